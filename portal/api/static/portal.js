// Optional improvements; every page works without this file.
(function () {
  "use strict";

  // Move focus to the error summary so screen readers read it and sighted users see it.
  var summary = document.querySelector("[data-focus]");
  if (summary) { summary.focus(); }

  // "Show password" toggles next to password inputs.
  document.querySelectorAll("input[type=password][data-show]").forEach(function (input) {
    var wrap = document.createElement("div");
    wrap.className = "password";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    var button = document.createElement("button");
    button.type = "button";
    button.className = "password__toggle";
    button.textContent = input.dataset.show;
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.textContent = show ? input.dataset.hide : input.dataset.show;
      button.setAttribute("aria-pressed", show ? "true" : "false");
      input.focus();
    });
    wrap.appendChild(button);
  });

  // Before a form posts, put password fields back to type=password (browsers save them properly)
  // and mark the button busy so an impatient second tap is visible as "in progress".
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[data-show]").forEach(function (i) { i.type = "password"; });
      var button = form.querySelector("button[type=submit]");
      if (button) { button.setAttribute("aria-busy", "true"); }
    });
  });

  // Copy buttons for the ticket number and status link.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    if (!navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(button.dataset.copy).then(function () {
        button.textContent = button.dataset.copied;
      });
    });
  });
  // Passkeys (WebAuthn): shown only where the browser has them; the password form works without.
  var hasPasskeys = !!(window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON);

  function csrfOf(root) {
    var input = (root || document).querySelector("input[name=csrf]");
    return input ? input.value : "";
  }

  function postForm(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields)
    });
  }

  // The answer goes back as a real form post, so the server's redirect and page take over from here.
  function submitHidden(action, fields) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = action;
    form.hidden = true;
    Object.keys(fields).forEach(function (name) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = fields[name];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  function showProblem(box, text) {
    if (!box || !text) { return; }
    box.textContent = text;
    box.hidden = false;
  }

  var addForm = document.querySelector("[data-passkey-add]");
  if (addForm && hasPasskeys) {
    addForm.hidden = false;
    var unsupported = document.querySelector("[data-passkey-unsupported]");
    if (unsupported) { unsupported.hidden = true; }
    addForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = document.querySelector("[data-passkey-status]");
      var csrf = csrfOf(addForm);
      postForm("/account/passkeys/options", { csrf: csrf }).then(function (r) {
        return r.json().then(function (body) { return { status: r.status, body: body }; });
      }).then(function (answer) {
        if (answer.body.reauth) { window.location.assign(answer.body.reauth); return null; }
        var publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(answer.body.options);
        return navigator.credentials.create({ publicKey: publicKey }).then(function (credential) {
          submitHidden("/account/passkeys/add", {
            csrf: csrf,
            handle: answer.body.handle,
            name: addForm.querySelector("[name=passkeyName]").value,
            response: JSON.stringify(credential.toJSON())
          });
        });
      }).catch(function () { showProblem(status, status && status.dataset.failed); });
    });
  }

  var signin = document.querySelector("[data-passkey-signin]");
  if (signin && hasPasskeys) {
    signin.hidden = false;
    var pending = null;  // the autofill request, aborted when the button is pressed

    var getPasskey = function (mediation) {
      if (pending) { pending.abort(); }
      var controller = new AbortController();
      if (mediation) { pending = controller; }
      var csrf = csrfOf(document.querySelector("form[action='/login']"));
      return postForm("/login/passkey/options", { csrf: csrf }).then(function (r) { return r.json(); })
        .then(function (body) {
          var request = {
            publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(body.options),
            signal: controller.signal
          };
          if (mediation) { request.mediation = mediation; }
          return navigator.credentials.get(request);
        }).then(function (credential) {
          submitHidden("/login/passkey", {
            csrf: csrf, next: signin.dataset.next, response: JSON.stringify(credential.toJSON())
          });
        });
    };

    signin.querySelector("button").addEventListener("click", function () {
      getPasskey(null).catch(function (error) {
        if (error && error.name === "AbortError") { return; }
        showProblem(signin.querySelector("[data-passkey-status]"), signin.dataset.failed);
      });
    });
    // The browser's autofill offers passkeys in the identifier field (autocomplete="username webauthn").
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) { getPasskey("conditional").catch(function () { return null; }); }
      });
    }
  }
})();
