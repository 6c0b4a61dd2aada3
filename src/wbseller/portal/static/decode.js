// The token decoder: reads a pasted JWT's header and payload here, in the browser. Nothing is sent:
// no request, no form (and the page's Content-Security-Policy forbids scripts any connection).
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("decoder-data").textContent);
  var input = document.getElementById("token-input");
  var result = document.getElementById("decode-result");
  var error = document.getElementById("decode-error");
  var summary = document.getElementById("decode-summary");
  // "Expired" by the server's clock (which can differ from this computer's), measured at page load.
  var skewMs = data.serverNow * 1000 - Date.now();
  var MSK_MS = 3 * 3600 * 1000;
  var messages = data.messages;

  // A message of the page's language (rendered into the page from the server's catalog): `{name}`
  // parameters, and plural forms picked by `n` with the language's rules (Intl.PluralRules).
  var plurals = new Intl.PluralRules(document.documentElement.lang || "ru");
  function msg(key, params) {
    var text = messages[key];
    params = params || {};
    if (text === undefined) throw new Error("no message " + key);
    if (typeof text === "object") text = text[plurals.select(params.n || 0)] || text.other || text.many;
    return text.replace(/\{(\w+)\}/g, function (_m, name) { return String(params[name]); });
  }

  function DecodeError(message) {
    this.message = message;
  }

  function part(text, what) {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) throw new DecodeError(msg("not_base64_" + what));
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bytes;
    try {
      bytes = Uint8Array.from(window.atob(b64), function (c) { return c.charCodeAt(0); });
    } catch (e) {
      throw new DecodeError(msg("not_base64_" + what));
    }
    var value;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (e) {
      throw new DecodeError(msg("not_json_" + what));
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new DecodeError(msg("not_object_" + what));
    }
    return value;
  }

  function bitSet(mask, bit) {
    // Not `mask & (1 << bit)`: JavaScript's bit operators work on 32 bits.
    return Math.floor(mask / Math.pow(2, bit)) % 2 === 1;
  }

  function mskTime(seconds) {
    var d = new Date(seconds * 1000 + MSK_MS);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " " + msg("msk");
  }

  function typeOf(p) {
    var label = data.types[String(p.acc)];
    if (!label) return { text: msg("unknown_type", { acc: JSON.stringify(p.acc) }), bad: true };
    var t = p.t === true;
    var target = p["for"];
    var ok;
    if (p.acc === 1) ok = !t && target === undefined;
    else if (p.acc === 2) ok = t && target === undefined;
    else if (p.acc === 3) ok = !t && target === "self";
    else ok = !t && typeof target === "string" && /^asid:\d+$/.test(target);
    if (!ok) return { text: msg("type_mismatch", { type: label }), bad: true };
    if (p.acc === 4) return { text: msg("type_service", { type: label, id: target.slice(5) }), bad: false };
    if (p.acc === 2) return { text: msg("type_test", { type: label }), bad: false };
    return { text: label, bad: false };
  }

  function decode(raw) {
    var token = raw.trim();
    if (/^bearer\s+/i.test(token)) token = token.replace(/^bearer\s+/i, "");
    var parts = token.split(".");
    if (parts.length !== 3 || !parts[0] || !parts[1]) {
      throw new DecodeError(msg("not_jwt"));
    }
    return { header: part(parts[0], "header"), payload: part(parts[1], "payload") };
  }

  function describe(header, p) {
    var rows = {};
    var type = typeOf(p);
    rows.type = { text: type.text, bad: type.bad };

    if (typeof p.s !== "number" || p.s < 0 || Math.floor(p.s) !== p.s) {
      rows.categories = { text: msg("no_s"), bad: true };
      rows.access = { text: "—" };
    } else {
      var names = [];
      var known = {};
      data.categories.forEach(function (c) {
        known[c.bit] = true;
        if (bitSet(p.s, c.bit)) names.push(c.title);
      });
      known[data.readOnlyBit] = true;
      var unknown = [];
      for (var bit = 0; bit < 53; bit++) {
        if (!known[bit] && bitSet(p.s, bit)) unknown.push(bit);
      }
      var text = names.length ? names.join(", ") : msg("none");
      if (unknown.length) text += " · " + msg("unknown_bits", { bits: unknown.join(", ") });
      rows.categories = { text: text, list: names, unknown: unknown };
      rows.access = { text: bitSet(p.s, data.readOnlyBit) ? msg("ro") : msg("rw") };
    }

    var seller = typeof p.sid === "string" ? p.sid : "—";
    if (typeof p.oid === "number") seller += " " + msg("seller_no", { oid: p.oid });
    if (data.ownSid && p.sid === data.ownSid) seller += " — " + msg("your_account");
    rows.seller = { text: seller };

    if (typeof p.exp === "number") {
      var now = (Date.now() + skewMs) / 1000;
      var days = (p.exp - now) / 86400;
      rows.expires = { text: mskTime(p.exp) };
      if (days <= 0) {
        var ago = Math.floor(-days);
        rows.status = { text: ago >= 1 ? msg("expired_ago", { n: ago }) : msg("expired"), bad: true };
      } else {
        var left = Math.floor(days);
        rows.status = {
          text: left >= 1 ? msg("left", { n: left }) : msg("left_less"),
          good: true
        };
      }
    } else {
      rows.expires = { text: msg("no_exp"), bad: true };
      rows.status = { text: msg("unknown"), bad: true };
    }
    rows.id = { text: typeof p.id === "string" ? p.id : "—" };
    var kid = typeof header.kid === "string" ? header.kid : "—";
    rows.kid = { text: kid + " · " + (typeof header.alg === "string" ? header.alg : msg("no_alg")) };
    return rows;
  }

  function show(rows) {
    error.hidden = true;
    result.hidden = false;
    // A short line for screen readers (the live region); the details are in the list below.
    summary.textContent = msg("summary", { type: rows.type.text, status: rows.status.text });
    Object.keys(rows).forEach(function (name) {
      var dd = result.querySelector('[data-field="' + name + '"]');
      if (!dd) return;
      var row = rows[name];
      dd.textContent = row.text; // text only: the token's fields never become markup
      dd.className = row.bad ? "status-bad" : row.good ? "status-ok" : "";
    });
  }

  function fail(message) {
    result.hidden = true;
    summary.textContent = "";
    error.hidden = false;
    error.textContent = message;
  }

  function run() {
    if (!input.value.trim()) {
      result.hidden = true;
      error.hidden = true;
      summary.textContent = msg("nothing");
      return;
    }
    try {
      var decoded = decode(input.value);
      show(describe(decoded.header, decoded.payload));
    } catch (e) {
      if (e instanceof DecodeError) fail(e.message);
      else throw e;
    }
  }

  document.getElementById("decode-button").addEventListener("click", run);
  input.addEventListener("input", run);
  document.getElementById("clear-button").addEventListener("click", function () {
    input.value = "";
    run();
    input.focus();
  });
})();
