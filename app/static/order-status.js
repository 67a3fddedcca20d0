// The buyer's order page: ask for the status every few seconds and reload the page when it
// changes (the page itself shows everything; without this script a reload does the same).
(function () {
  "use strict";
  var banner = document.getElementById("order-status");
  if (!banner) return;
  var open = ["pending", "partially_paid"];
  var status = banner.dataset.status;
  if (open.indexOf(status) < 0) return;
  var delay = (parseInt(banner.dataset.poll, 10) || 5) * 1000;
  function poll() {
    fetch(banner.dataset.url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (body && body.status !== status) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, delay * 2); });
  }
  window.setTimeout(poll, delay);
})();
