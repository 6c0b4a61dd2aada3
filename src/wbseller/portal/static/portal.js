// The account pages' small script: dialogs, tabs, the create form's type switch, Copy and close.
// Every page works without it (plain links and forms); this only makes them nicer.
(function () {
  "use strict";

  var live = document.getElementById("live");
  var messagesNode = document.getElementById("portal-messages");
  var messages = messagesNode ? JSON.parse(messagesNode.textContent) : {};

  // Words come from the server's catalog, rendered into the page in its language.
  function text(key) {
    return messages[key] || key;
  }
  var liveTimer = 0;

  function announce(message) {
    if (!live) return;
    // Emptied first so that the same message twice is announced twice.
    live.textContent = "";
    window.clearTimeout(liveTimer);
    window.setTimeout(function () { live.textContent = message; }, 30);
    liveTimer = window.setTimeout(function () { live.textContent = ""; }, 7000);
  }

  function canModal(dialog) {
    return dialog && typeof dialog.showModal === "function";
  }

  function focusFirstField(dialog) {
    var field = dialog.querySelector(
      '.tabpanel:not([hidden]) input:not([type="hidden"]):not([disabled]), .tabpanel:not([hidden]) textarea'
    );
    if (field) field.focus();
  }

  // A dialog the server rendered open (form errors, a new token) becomes a real modal one.
  document.querySelectorAll("dialog[data-show-modal][open]").forEach(function (dialog) {
    if (!canModal(dialog)) return;
    dialog.close();
    dialog.showModal();
    if (dialog.querySelector('[aria-invalid="true"]')) {
      dialog.querySelector('[aria-invalid="true"]').focus();
    }
  });

  document.querySelectorAll("[data-open-dialog]").forEach(function (opener) {
    opener.addEventListener("click", function (event) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (!canModal(dialog)) return;
      event.preventDefault();
      if (!dialog.open) dialog.showModal();
      focusFirstField(dialog);
    });
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (!closer) return;
    var dialog = closer.closest("dialog");
    if (!dialog || !canModal(dialog)) return;
    event.preventDefault();
    dialog.close();
  });

  // Closing the create dialog opened at /integrations/new leaves the address of the list.
  var create = document.getElementById("create-dialog");
  if (create) {
    create.addEventListener("close", function () {
      var list = create.querySelector(".dialog-close");
      if (list && window.location.pathname !== list.pathname) {
        window.history.replaceState(null, "", list.pathname);
      }
    });
  }

  // --- tabs (manual integration / service) ---
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[role="tab"]'));
  function selectTab(tab, focus) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
    if (focus) tab.focus();
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function (event) {
      event.preventDefault();
      selectTab(tab, false);
    });
    tab.addEventListener("keydown", function (event) {
      var next = null;
      if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (event.key === "Home") next = tabs[0];
      else if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        selectTab(next, true);
      }
    });
  });

  // --- the manual form: what a token type asks for ---
  var manual = document.getElementById("manual-form");
  if (manual) {
    var update = function () {
      var checked = manual.querySelector('input[name="type"]:checked');
      var type = checked ? checked.value : "base";
      manual.querySelectorAll("[data-for-type]").forEach(function (el) {
        el.hidden = el.getAttribute("data-for-type") !== type;
      });
      // A test token works only on sandbox hosts: categories without one are off.
      manual.querySelectorAll('input[name="categories"]').forEach(function (box) {
        var off = type === "test" && box.getAttribute("data-sandbox") !== "yes";
        if (off) box.checked = false;
        box.disabled = off;
      });
      var liability = manual.querySelector('input[name="liability"]');
      if (liability) liability.required = type === "personal";
    };
    manual.addEventListener("change", function (event) {
      if (event.target.name === "type") update();
    });
    update();
  }

  // --- the new token: shown once, then Copy and close ---
  var tokenDialog = document.getElementById("token-dialog");
  if (tokenDialog) {
    var area = document.getElementById("new-token");
    var copyButton = document.getElementById("copy-close");
    var closeButton = document.getElementById("token-close");
    var fallback = document.getElementById("copy-fallback");
    // This page answered a POST: from now on, reloading shows the list instead of posting again.
    window.history.replaceState(null, "", tokenDialog.getAttribute("data-list-url"));
    tokenDialog.addEventListener("cancel", function (event) {
      event.preventDefault(); // Escape must not lose a token nobody copied
    });
    var finish = function (message) {
      area.value = "";
      area.textContent = "";
      if (tokenDialog.open) tokenDialog.close();
      tokenDialog.remove();
      var main = document.getElementById("main");
      if (main) main.focus();
      announce(message);
    };
    copyButton.addEventListener("click", function () {
      var token = area.value;
      var selectInstead = function () {
        area.focus();
        area.select();
        var copied = false;
        try {
          copied = document.execCommand("copy");
        } catch (e) {
          copied = false;
        }
        if (copied) {
          finish(text("copied"));
        } else {
          fallback.hidden = false;
          closeButton.hidden = false;
          announce(text("copy_unavailable"));
        }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(token).then(function () {
          finish(text("copied"));
        }, selectInstead);
      } else {
        selectInstead();
      }
    });
    closeButton.addEventListener("click", function () {
      finish(text("token_hidden"));
    });
  }

  // A second click on Create must not make a second token: the button is off once the form is sent.
  document.querySelectorAll('form[method="post"]').forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector('button[type="submit"]');
      if (button) window.setTimeout(function () { button.disabled = true; }, 0);
    });
  });

  // --- delete: ask in a dialog (without JS the link opens a confirmation page) ---
  var deleteDialog = document.getElementById("delete-dialog");
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-delete]");
    if (!link || !canModal(deleteDialog)) return;
    event.preventDefault();
    deleteDialog.querySelector("form").setAttribute("action", link.getAttribute("data-delete"));
    deleteDialog.querySelector("[data-delete-name]").textContent = link.getAttribute("data-name");
    deleteDialog.showModal();
    deleteDialog.querySelector("[data-close-dialog]").focus(); // Cancel first: deleting is final
  });
})();
