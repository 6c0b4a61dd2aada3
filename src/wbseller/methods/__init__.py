"""The methods the server answers: the declarative table (`table`) and the General section (`general`)."""
