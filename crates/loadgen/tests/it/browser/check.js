// Injected by the browser test in front of a report (reports themselves have no script):
// records console errors, then reads back every drawn series and measures label boxes, and
// writes the findings as JSON into <pre id="edgelab-check"> for --dump-dom.
(function () {
  var errors = [];
  var originalError = console.error;
  console.error = function () {
    errors.push(Array.prototype.join.call(arguments, " "));
    originalError.apply(console, arguments);
  };
  window.addEventListener("error", function (e) { errors.push(String(e.message)); });
  function list(el, name) {
    var v = el.getAttribute(name);
    return v === null || v === "" ? [] : v.split(",").map(Number);
  }
  function overlaps(a, b) {
    return a.left < b.right - 0.5 && b.left < a.right - 0.5 &&
      a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  }
  window.addEventListener("load", function () {
    var out = { errors: errors, series: [], bars: 0, overlaps: [], labels: 0 };
    document.querySelectorAll("svg[data-chart]").forEach(function (svg) {
      var chart = svg.getAttribute("data-chart");
      svg.querySelectorAll("polyline.series").forEach(function (line) {
        var pixels = [];
        for (var i = 0; i < line.points.numberOfItems; i++) {
          var p = line.points.getItem(i);
          pixels.push([p.x, p.y]);
        }
        out.series.push({ chart: chart, name: line.getAttribute("data-series"),
          x: list(line, "data-x"), y: list(line, "data-y"), pixels: pixels });
      });
      out.bars += svg.querySelectorAll("rect.bar").length;
      ["x-tick", "y-tick", "group-label", "cluster-label"].forEach(function (cls) {
        var boxes = Array.prototype.map.call(svg.querySelectorAll("text." + cls), function (t) {
          return { text: t.textContent, box: t.getBoundingClientRect() };
        });
        out.labels += boxes.length;
        for (var i = 0; i + 1 < boxes.length; i++) {
          if (overlaps(boxes[i].box, boxes[i + 1].box)) {
            out.overlaps.push(chart + ": " + boxes[i].text + " / " + boxes[i + 1].text);
          }
        }
      });
    });
    var pre = document.createElement("pre");
    pre.id = "edgelab-check";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
})();
