/* Dockyard dashboard: copy buttons, the usage chart, bar widths. No framework; htmx does the
   partial updates. Runs again on content htmx swaps in. */
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  function announce(button, message) {
    var original = button.dataset.label || button.textContent;
    button.dataset.label = original;
    button.textContent = message;
    button.classList.add("done");
    window.setTimeout(function () {
      button.textContent = original;
      button.classList.remove("done");
    }, 1800);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    copyText(source.textContent.trim()).then(
      function () { announce(button, "Copied"); },
      function () { announce(button, "Press Ctrl+C"); selectText(source); }
    );
  });

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function bars(root) {
    root.querySelectorAll("[data-share]").forEach(function (bar) {
      bar.style.width = Math.max(2, parseFloat(bar.dataset.share) || 0) + "%";
    });
  }

  function chart(root) {
    var holder = root.querySelector("#usage-chart");
    var source = root.querySelector("#usage-data");
    if (!holder || !source || holder.dataset.drawn || typeof uPlot === "undefined") return;
    holder.dataset.drawn = "1";
    var data = JSON.parse(source.textContent);
    var styles = getComputedStyle(document.documentElement);
    var pullColor = styles.getPropertyValue("--pulls").trim() || "#1d5fbf";
    var pushColor = styles.getPropertyValue("--pushes").trim() || "#c2410c";
    var axis = { stroke: "#4b5563", grid: { stroke: "#e5e7eb", width: 1 }, ticks: { stroke: "#d1d5db" } };
    function whole(u, splits) {
      return splits.map(function (v) { return Number.isInteger(v) ? v.toLocaleString("en") : ""; });
    }
    function size() {
      return { width: Math.max(280, holder.clientWidth), height: 240 };
    }
    var plot = new uPlot(Object.assign(size(), {
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      scales: {
        x: { time: true },
        y: { range: function (u, min, max) { return [0, Math.max(4, max * 1.15)]; } },
        pushes: { range: function (u, min, max) { return [0, Math.max(4, max * 1.15)]; } }
      },
      axes: [
        Object.assign({}, axis, { space: 56, values: function (u, splits) {
          return splits.map(function (v) {
            return new Date(v * 1000).toLocaleDateString("en", { month: "short", day: "numeric", timeZone: "UTC" });
          });
        } }),
        Object.assign({}, axis, { size: 52, label: "pulls", labelSize: 18, values: whole }),
        Object.assign({}, axis, { scale: "pushes", side: 1, size: 44, label: "pushes", labelSize: 18, grid: { show: false }, values: whole })
      ],
      series: [
        { value: function (u, v) { return v == null ? "" : new Date(v * 1000).toISOString().slice(0, 10); } },
        { label: "Pulls", stroke: pullColor, width: 2, fill: pullColor + "22", points: { show: false } },
        { label: "Pushes", scale: "pushes", stroke: pushColor, width: 2, dash: [6, 3], points: { show: false } }
      ]
    }), [data.x, data.pulls, data.pushes], holder);
    var resize;
    window.addEventListener("resize", function () {
      window.clearTimeout(resize);
      resize = window.setTimeout(function () { plot.setSize(size()); }, 100);
    });
  }

  function init(root) {
    bars(root);
    chart(root);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (event) { init(event.target); });
})();
