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
  // The map: each marker's data and drawn centre, each hop's data and drawn ends, and every
  // label's box checked against every other label and the map's own box.
  function readMap() {
    var svg = document.querySelector('svg[data-chart="map"]');
    if (!svg) { return null; }
    var map = { places: [], hops: [], labels: 0, overlaps: [], outside: [] };
    svg.querySelectorAll("g.place").forEach(function (g) {
      var box = g.lastElementChild.getBBox();
      map.places.push({ id: g.getAttribute("data-id"), kind: g.getAttribute("data-kind"),
        x: Number(g.getAttribute("data-x")), y: Number(g.getAttribute("data-y")),
        cx: box.x + box.width / 2, cy: box.y + box.height / 2 });
    });
    svg.querySelectorAll("path.hop").forEach(function (p) {
      var length = p.getTotalLength();
      var a = p.getPointAtLength(0), b = p.getPointAtLength(length);
      map.hops.push({ place: p.getAttribute("data-place"), mode: p.getAttribute("data-mode"),
        from: p.getAttribute("data-from"), to: p.getAttribute("data-to"),
        rtt_ms: Number(p.getAttribute("data-rtt-ms")), length: length,
        start: [a.x, a.y], end: [b.x, b.y] });
    });
    var frame = svg.getBoundingClientRect();
    var labels = Array.prototype.map.call(svg.querySelectorAll("text.map-label"), function (t) {
      return { text: t.textContent, box: t.getBoundingClientRect() };
    });
    map.labels = labels.length;
    labels.forEach(function (label, i) {
      var b = label.box;
      if (b.left < frame.left || b.right > frame.right || b.top < frame.top ||
          b.bottom > frame.bottom) {
        map.outside.push(label.text);
      }
      for (var j = i + 1; j < labels.length; j++) {
        if (overlaps(b, labels[j].box)) {
          map.overlaps.push(label.text + " / " + labels[j].text);
        }
      }
    });
    return map;
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
    out.map = readMap();
    var pre = document.createElement("pre");
    pre.id = "edgelab-check";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
})();
