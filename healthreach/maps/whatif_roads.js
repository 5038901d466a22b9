/* healthreach: the coverage map's road basemap, drawn on canvas tiles straight from the what-if
 * engine's packed network (the network is embedded once, for routing and drawing), styled as the
 * basemap's road classes (healthreach.maps.basemaps.ROAD_STYLES). */
function healthreachRoadTiles(engine, group, pane) {
  'use strict';
  var N = engine.network, nSeg = N.nSeg, PAL = N.palette, segPal = N.segPal, segU = N.segU, segV = N.segV;
  var vstart = N.vstart, explicit = N.explicit;
  var toLonLat = engine.toLonLat, display = engine.display, boxes = engine.boxes, bucketGrid = engine.bucketGrid;
  var forCell = engine.forCell;
  /* Web Mercator (0..1 across the world) of metric positions, as the page displays them. */
  function toMercator(xy) {
    var out = new Float64Array(xy.length), PI = Math.PI;
    for (var i = 0; i < xy.length; i += 2) {
      var ll = toLonLat(xy[i], xy[i + 1]), d = display(ll[0], ll[1]), sin = Math.sin(d[0] * PI / 180);
      out[i] = (d[1] + 180) / 360;
      out[i + 1] = 0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * PI);
    }
    return out;
  }
  var nodeM = toMercator(N.nodeXY), vertM = toMercator(N.vertXY), mBox = boxes(nodeM, vertM);
  var mGrid = bucketGrid(mBox, nSeg), drawn = new Int32Array(nSeg), tileStamp = 0;
  var styles = N.styles, widest = 0;
  styles.forEach(function (st) { widest = Math.max(widest, st.weight || 1); });
  var drawTile = function (canvas, coords, size) {
    var scale = size.x * Math.pow(2, coords.z), ox = coords.x * size.x, oy = coords.y * size.y;
    var pad = (widest + 2) / scale, x0 = ox / scale - pad, y0 = oy / scale - pad;
    var x1 = (ox + size.x) / scale + pad, y1 = (oy + size.y) / scale + pad, g = mGrid;
    var byStyle = styles.map(function () { return []; });
    function take(s) {
      if (drawn[s] === tileStamp) { return; }
      drawn[s] = tileStamp;
      if (mBox[4 * s + 2] < x0 || mBox[4 * s] > x1 || mBox[4 * s + 3] < y0 || mBox[4 * s + 1] > y1) { return; }
      byStyle[PAL[segPal[s]].style].push(s);
    }
    tileStamp++;
    var i1 = Math.min(g.gw - 1, Math.floor((x1 - g.minx) / g.cell)), j1 = Math.min(g.gh - 1, Math.floor((y1 - g.miny) / g.cell));
    for (var i = Math.max(0, Math.floor((x0 - g.minx) / g.cell)); i <= i1; i++) {
      for (var j = Math.max(0, Math.floor((y0 - g.miny) / g.cell)); j <= j1; j++) { forCell(g, i, j, take); }
    }
    var ctx = canvas.getContext('2d');
    ctx.lineCap = 'round'; ctx.lineJoin = 'round'; ctx.globalAlpha = 0.9;
    function point(arr, i, first) {
      var px = arr[i] * scale - ox, py = arr[i + 1] * scale - oy;
      if (first) { ctx.moveTo(px, py); } else { ctx.lineTo(px, py); }
    }
    // Least important first, so that major roads are drawn on top (as the basemap does).
    for (var st = styles.length - 1; st >= 0; st--) {
      if (!byStyle[st].length) { continue; }
      ctx.strokeStyle = styles[st].color; ctx.lineWidth = styles[st].weight || 1;
      ctx.setLineDash(styles[st].dashArray ? styles[st].dashArray.split(/[ ,]+/).map(Number) : []);
      ctx.beginPath();
      byStyle[st].forEach(function (s) {
        var own = explicit[s] === 1;
        if (!own) { point(nodeM, 2 * segU[s], true); }
        for (var k = 2 * vstart[s]; k < 2 * vstart[s + 1]; k += 2) { point(vertM, k, own && k === 2 * vstart[s]); }
        if (!own) { point(nodeM, 2 * segV[s], false); }
      });
      ctx.stroke();
    }
  };
  var RoadTiles = L.GridLayer.extend({
    createTile: function (coords, done) {
      var tile = L.DomUtil.create('canvas', 'hr-road-tile'), size = this.getTileSize();
      tile.width = size.x; tile.height = size.y;
      setTimeout(function () { drawTile(tile, coords, size); done(null, tile); }, 0);
      return tile;
    }
  });
  new RoadTiles({pane: pane, updateWhenZooming: false, keepBuffer: 1}).addTo(group);
}
