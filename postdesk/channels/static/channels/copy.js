// Progressive enhancement: a "Copy" button beside each read-only address field. Without
// JavaScript the field is still there to select and copy by hand.
document.querySelectorAll("[data-copy-target]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () {
    var field = document.getElementById(button.getAttribute("data-copy-target"));
    if (!field) { return; }
    field.select();
    if (navigator.clipboard) {
      navigator.clipboard.writeText(field.value).catch(function () { document.execCommand("copy"); });
    } else {
      document.execCommand("copy");
    }
    button.textContent = button.getAttribute("data-copied-label");
  });
});
