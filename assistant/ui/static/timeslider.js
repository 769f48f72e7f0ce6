/* Sentinelle time slider: layers of a time series (MapLayer.date) are shown one date at a time.

   When the map holds layers of two or more dates, a control at the bottom left lists the dates on a range input
   (and previous / next buttons, and the arrow keys): the layers of the chosen date are on the map, those of the other
   dates are off. The newest date is shown first; the choice is kept while the conversation adds layers. Every label
   is a text node.                                                                                                   */
(function () {
  "use strict";
  var ISO = /^\d{4}(-\d{2}(-\d{2})?)?/;
  var state = { control: null, input: null, label: null, count: null, dates: [], chosen: null, drawn: null, map: null };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function datesOf(layers) {
    var seen = {};
    layers.forEach(function (spec) {
      if (spec && typeof spec.date === "string" && ISO.test(spec.date)) seen[spec.date] = true;
    });
    return Object.keys(seen).sort();
  }

  // Show the layers of the chosen date, hide those of the others (layers without a date are left alone).
  function apply(layers) {
    var map = state.map, drawn = state.drawn, shown = 0;
    layers.forEach(function (spec) {
      if (!spec || typeof spec.date !== "string") return;
      var entry = drawn[spec.name];
      if (!entry) return;
      if (spec.date === state.chosen) {
        if (!map.hasLayer(entry.layer)) entry.layer.addTo(map);
        shown += 1;
      } else if (map.hasLayer(entry.layer)) {
        map.removeLayer(entry.layer);
      }
    });
    var i = state.dates.indexOf(state.chosen);
    state.input.value = String(i);
    state.label.textContent = state.chosen;
    state.count.textContent = (i + 1) + " / " + state.dates.length;
    document.body.setAttribute("data-time", state.chosen);
    document.body.setAttribute("data-time-shown", String(shown));
  }

  function choose(index, layers) {
    index = Math.max(0, Math.min(state.dates.length - 1, index));
    state.chosen = state.dates[index];
    apply(layers);
  }

  function makeControl(map) {
    var control = L.control({ position: "bottomleft" });
    control.onAdd = function () {
      var box = el("div", "sn-time");
      var title = el("div", "sn-time-title", "Date");
      var row = el("div", "sn-time-row");
      var prev = el("button", "sn-time-step", "\u25C0"), next = el("button", "sn-time-step", "\u25B6");
      prev.type = next.type = "button";
      prev.setAttribute("aria-label", "previous date");
      next.setAttribute("aria-label", "next date");
      var input = el("input");
      input.type = "range";
      input.min = "0";
      input.step = "1";
      input.setAttribute("aria-label", "date of the time series shown");
      row.appendChild(prev);
      row.appendChild(input);
      row.appendChild(next);
      var label = el("div", "sn-time-label"), count = el("div", "sn-time-count");
      box.appendChild(title);
      box.appendChild(row);
      box.appendChild(label);
      box.appendChild(count);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      input.addEventListener("input", function () { choose(parseInt(input.value, 10) || 0, state.layers); });
      prev.addEventListener("click", function () { choose(state.dates.indexOf(state.chosen) - 1, state.layers); });
      next.addEventListener("click", function () { choose(state.dates.indexOf(state.chosen) + 1, state.layers); });
      state.input = input;
      state.label = label;
      state.count = count;
      return box;
    };
    return control;
  }

  // Called by map.js after every redraw with the layer specs and what it drew for them.
  function update(map, layers, drawn) {
    state.map = map;
    state.drawn = drawn;
    state.layers = layers;
    state.dates = datesOf(layers);
    if (state.dates.length < 2) {
      if (state.control) { map.removeControl(state.control); state.control = null; }
      document.body.removeAttribute("data-time");
      return;
    }
    if (!state.control) { state.control = makeControl(map); state.control.addTo(map); }
    state.input.max = String(state.dates.length - 1);
    if (state.dates.indexOf(state.chosen) < 0) state.chosen = state.dates[state.dates.length - 1];
    apply(layers);
  }

  window.SentinelleTimeline = { update: update, datesOf: datesOf };
})();
