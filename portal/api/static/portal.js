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
})();
