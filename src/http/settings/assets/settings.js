// Private Integrations settings page: the copy button, the page's only script.
// Everything else works with JavaScript off; without it, select the token and copy it.
(function () {
  "use strict";
  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    if (!field) { return; }
    var done = function (text) { if (status) { status.textContent = text; } };
    var fallback = function () {
      field.focus();
      field.select();
      done("Press Ctrl+C (⌘C on a Mac) to copy the selected token.");
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(function () {
        done("Token copied to the clipboard.");
      }, fallback);
    } else {
      fallback();
    }
  }
  function init() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
