// Loaded after require.js and before the ipywidgets HTML manager (see _config.yml).
(function () {
  // 1. The manager loads its icon fonts from wherever RequireJS places its module, by default
  //    next to the page. Point that at the copy served with the book; the page depth varies, so
  //    derive the address from this script's own URL.
  var widgets = new URL("widgets", document.currentScript.src).href;
  require.config({ paths: { "@jupyter-widgets/html-manager/dist": widgets } });

  // 2. The manager typesets widget labels through MathJax 2's MathJax.Hub.Queue; the book runs
  //    MathJax 3 (loaded with defer, so present by DOMContentLoaded). Bridge the one call it makes.
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.MathJax || window.MathJax.Hub) return;
    window.MathJax.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : undefined;
        MathJax.startup.promise.then(function () {
          return MathJax.typesetPromise(element ? [element] : undefined);
        });
      },
    };
  });
})();
