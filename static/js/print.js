// The statement's Print button (billing/templates/billing/statement.html). A static file
// because the Content-Security-Policy allows no inline script.
document.addEventListener("click", (event) => {
  if (event.target instanceof Element && event.target.closest("[data-print]")) {
    window.print();
  }
});
