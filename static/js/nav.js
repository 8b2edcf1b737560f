// The main navigation's menus are <details> elements: they open, close and take the
// keyboard without this script. It adds what a drop-down is expected to do besides: close
// on Escape (focus back on its button) and on a click or focus anywhere else, so an open
// menu never stays over the page. The same goes for the phone-width "Menu".
(function () {
  "use strict";

  function openMenus() {
    return document.querySelectorAll(".topbar details[open]");
  }

  function closeAllBut(target) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(target)) {
        menu.open = false;
      }
    });
  }

  document.addEventListener("click", function (event) {
    closeAllBut(event.target);
  });
  document.addEventListener("focusin", function (event) {
    closeAllBut(event.target);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    // The innermost open menu around the focus closes first: a page's menu, then "Menu".
    var menu = document.activeElement && document.activeElement.closest(".topbar details[open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
      event.preventDefault();
    }
  });
})();
