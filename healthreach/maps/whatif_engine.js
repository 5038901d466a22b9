/* healthreach: the what-if engine of the coverage map (no drawing, no page elements).
 *
 * Travel times are recomputed here, in the browser, from the road network packed into the page
 * (healthreach/maps/whatif_pack.py), by the engine's rules (healthreach/coverage/network.py): a site
 * joins the nearest road segment its travel mode may use (skipping a small road island for the
 * connected network within max_snap_m, as OSRM does), split there, the leg to it charged at the
 * access (walking) speed; one-way segments run u -> v only (on foot every segment is two-way); access
 * is measured toward the facility, ambulance response from the station out. A village's new time is
 * the smaller of its baseline time and its time to (from) the nearest placed site of the tier; the
 * figures are those of `healthreach compare` (healthreach/scenarios/compare.py): persons within each
 * band, population-weighted mean and 95th percentile in minutes. Nothing is fetched.
 */
function healthreachWhatIfEngine(data) {
  'use strict';
  var NET = data.network, TXT = data.text, MODES = NET.modes, INF = Infinity;

  // ------------------------------------------------------------------ decoding the packed arrays
  function bytesOf(b64) {
    var s = atob(b64), n = s.length, out = new Uint8Array(n);
    for (var i = 0; i < n; i++) { out[i] = s.charCodeAt(i); }
    return out;
  }
  var TYPED = {f4: Float32Array, f8: Float64Array, u1: Uint8Array, u2: Uint16Array, i4: Int32Array};
  function raw(d) { return new TYPED[d.dtype](bytesOf(d.b64).buffer, 0, d.n); }
  function varints(d) {
    var b = bytesOf(d.b64), out = new Int32Array(d.n), pos = 0, prev = 0;
    for (var i = 0; i < d.n; i++) {
      var z = 0, scale = 1, byte;
      do { byte = b[pos++]; z += (byte & 127) * scale; scale *= 128; } while (byte & 128);
      var v = (z % 2 === 0) ? z / 2 : -(z + 1) / 2;
      if (d.delta) { prev += v; v = prev; }
      out[i] = v;
    }
    return out;
  }

  // ------------------------------------------------------------------ coordinates
  var PJ = NET.projection, Q = NET.quantum_m, OX = NET.origin[0], OY = NET.origin[1];
  function poly(coef, degree, u, v) {
    var a = 0, b = 0, k = 0, ui = 1;
    for (var i = 0; i <= degree; i++) {
      var t = ui;
      for (var j = 0; j <= degree - i; j++) { a += coef[0][k] * t; b += coef[1][k] * t; t *= v; k++; }
      ui *= u;
    }
    return [a, b];
  }
  /* WGS84 degrees -> metres from the packed origin; null outside the fitted extent. */
  function toMetric(lon, lat) {
    var u = (lon - PJ.lon0) / PJ.su, v = (lat - PJ.lat0) / PJ.sv;
    if (!(Math.abs(u) <= 1 && Math.abs(v) <= 1)) { return null; }
    var d = poly(PJ.fwd, PJ.fwd_degree, u, v);
    return [PJ.x0 + d[0] - OX, PJ.y0 + d[1] - OY];
  }
  function toLonLat(x, y) {
    var d = poly(PJ.inv, PJ.inv_degree, (x + OX - PJ.x0) / PJ.sx, (y + OY - PJ.y0) / PJ.sy);
    return [PJ.lon0 + d[0], PJ.lat0 + d[1]];
  }
  // GCJ-02 (the Amap basemap's datum): the public formula, as healthreach.layers.crs.
  function gcjDelta(lon, lat) {
    var x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dlat += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dlat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dlat += (160.0 * Math.sin(y / 12.0 * PI) + 320.0 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dlon += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dlon += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dlon += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var A = 6378245.0, EE = 0.00669342162296594323, radlat = lat / 180.0 * PI;
    var magic = 1.0 - EE * Math.sin(radlat) * Math.sin(radlat), sq = Math.sqrt(magic);
    if (lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271) { return [0, 0]; }
    return [(dlon * 180.0) / (A / sq * Math.cos(radlat) * PI),
            (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sq) * PI)];
  }
  /* Display position [lat, lon] of WGS84 lon/lat (GCJ-02 when the page draws over Amap tiles). */
  function display(lon, lat) {
    if (!data.gcj02) { return [lat, lon]; }
    var d = gcjDelta(lon, lat);
    return [lat + d[1], lon + d[0]];
  }
  /* WGS84 lon/lat of a display position (iterated inverse, to 1e-9 degrees). */
  function fromDisplay(latlng) {
    if (!data.gcj02) { return [latlng.lng, latlng.lat]; }
    var lon = latlng.lng, lat = latlng.lat;
    for (var i = 0; i < 30; i++) {
      var p = display(lon, lat), ex = p[1] - latlng.lng, ey = p[0] - latlng.lat;
      lon -= ex; lat -= ey;
      if (Math.abs(ex) < 1e-9 && Math.abs(ey) < 1e-9) { break; }
    }
    return [lon, lat];
  }
  function round8(x) { return Math.round(x * 1e8) / 1e8; }

  // ------------------------------------------------------------------ the network
  var SG = NET.segments, PAL = NET.palette;
  var segU = varints(SG.u), segV = varints(SG.v), segLen = raw(SG.length_m), segPal = raw(SG.palette);
  var vcount = varints(SG.vcount), nSeg = segU.length;
  function interleaved(xs, ys) {  // metres from the origin, [x0, y0, x1, y1, ...]
    var a = varints(xs), b = varints(ys), out = new Float64Array(2 * a.length);
    for (var i = 0; i < a.length; i++) { out[2 * i] = a[i] * Q; out[2 * i + 1] = b[i] * Q; }
    return out;
  }
  var nodeXY = interleaved(NET.nodes.x, NET.nodes.y), vertXY = interleaved(SG.vx, SG.vy), n0 = nodeXY.length / 2;
  var vstart = new Int32Array(nSeg + 1);
  for (var s0 = 0; s0 < nSeg; s0++) { vstart[s0 + 1] = vstart[s0] + vcount[s0]; }
  var explicit = new Uint8Array(nSeg);
  SG.explicit.forEach(function (s) { explicit[s] = 1; });
  var segS = [], twoWay = [];
  MODES.forEach(function (mode, m) {
    var secs = new Float64Array(nSeg), two = new Uint8Array(nSeg);
    for (var s = 0; s < nSeg; s++) {
      var entry = PAL[segPal[s]], kmh = entry.kmh[m];
      secs[s] = kmh ? segLen[s] / kmh * 3.6 : NaN;
      two[s] = (mode === 'walk' || !entry.oneway) ? 1 : 0;
    }
    segS.push(secs); twoWay.push(two);
  });

  /* The line of segment s as [x0, y0, x1, y1, ...] from junction positions `nodes` and interior
     vertices `verts` (interleaved; metric or Mercator): its junctions at the ends unless it keeps its own. */
  function segCoords(s, nodes, verts) {
    var a = vstart[s], b = vstart[s + 1], own = explicit[s] === 1;
    var out = new Float64Array(2 * (b - a + (own ? 0 : 2))), k = 0;
    if (!own) { out[k++] = nodes[2 * segU[s]]; out[k++] = nodes[2 * segU[s] + 1]; }
    for (var i = 2 * a; i < 2 * b; i++) { out[k++] = verts[i]; }
    if (!own) { out[k++] = nodes[2 * segV[s]]; out[k++] = nodes[2 * segV[s] + 1]; }
    return out;
  }
  /* Bounding box of every segment's line, [x0, y0, x1, y1] per segment. */
  function boxes(nodes, verts) {
    var out = new Float64Array(4 * nSeg);
    for (var s = 0; s < nSeg; s++) {
      var x0 = INF, y0 = INF, x1 = -INF, y1 = -INF, i, x, y;
      if (!explicit[s]) {
        for (var e = 0; e < 2; e++) {
          i = 2 * (e ? segV[s] : segU[s]); x = nodes[i]; y = nodes[i + 1];
          if (x < x0) { x0 = x; } if (x > x1) { x1 = x; } if (y < y0) { y0 = y; } if (y > y1) { y1 = y; }
        }
      }
      for (i = 2 * vstart[s]; i < 2 * vstart[s + 1]; i += 2) {
        x = verts[i]; y = verts[i + 1];
        if (x < x0) { x0 = x; } if (x > x1) { x1 = x; } if (y < y0) { y0 = y; } if (y > y1) { y1 = y; }
      }
      out[4 * s] = x0; out[4 * s + 1] = y0; out[4 * s + 2] = x1; out[4 * s + 3] = y1;
    }
    return out;
  }

  /* A bucket grid over boxes ([x0, y0, x1, y1] per item): each item is listed in every cell its box
     touches. Finds the segments near a point (snapping, in metres) or in a tile (drawing, in Mercator). */
  function bucketGrid(box, n) {
    var minx = INF, miny = INF, maxx = -INF, maxy = -INF, i, j, s;
    for (s = 0; s < n; s++) {
      minx = Math.min(minx, box[4 * s]); miny = Math.min(miny, box[4 * s + 1]);
      maxx = Math.max(maxx, box[4 * s + 2]); maxy = Math.max(maxy, box[4 * s + 3]);
    }
    var w = Math.max(maxx - minx, 1e-9), h = Math.max(maxy - miny, 1e-9);
    var cell = Math.max(Math.sqrt(w * h / Math.max(n, 1)), Math.max(w, h) / 2048, Math.sqrt(w * h / 4e6));
    var g = {minx: minx, miny: miny, cell: cell, gw: Math.floor(w / cell) + 1, gh: Math.floor(h / cell) + 1};
    var count = new Int32Array(g.gw * g.gh + 1), fill, items, pass, c;
    for (pass = 0; pass < 2; pass++) {
      for (s = 0; s < n; s++) {
        var i0 = Math.floor((box[4 * s] - minx) / cell), j0 = Math.floor((box[4 * s + 1] - miny) / cell);
        var i1 = Math.floor((box[4 * s + 2] - minx) / cell), j1 = Math.floor((box[4 * s + 3] - miny) / cell);
        for (i = i0; i <= i1; i++) {
          for (j = j0; j <= j1; j++) {
            c = i * g.gh + j;
            if (pass === 0) { count[c + 1]++; } else { items[fill[c]++] = s; }
          }
        }
      }
      if (pass === 0) {
        for (c = 0; c < g.gw * g.gh; c++) { count[c + 1] += count[c]; }
        fill = count.slice(0, g.gw * g.gh); items = new Int32Array(count[g.gw * g.gh]);
      }
    }
    g.start = count; g.items = items;
    return g;
  }
  function forCell(g, i, j, visit) {
    if (i < 0 || j < 0 || i >= g.gw || j >= g.gh) { return; }
    var c = i * g.gh + j;
    for (var k = g.start[c]; k < g.start[c + 1]; k++) { visit(g.items[k]); }
  }
  var grid = bucketGrid(boxes(nodeXY, vertXY), nSeg);
  var seen = new Int32Array(nSeg), stamp = 0;

  /* Distance (m) from (x, y) to segment s and the position of the nearest point as a fraction of the
     line's length (the first nearest piece, as GEOS's line_locate_point). */
  function locate(s, x, y) {
    var xy = segCoords(s, nodeXY, vertXY), best = INF, along = 0, acc = 0;
    for (var i = 0; i + 3 < xy.length; i += 2) {
      var ax = xy[i], ay = xy[i + 1], dx = xy[i + 2] - ax, dy = xy[i + 3] - ay;
      var len2 = dx * dx + dy * dy, len = Math.sqrt(len2);
      var t = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0;
      t = t < 0 ? 0 : (t > 1 ? 1 : t);
      var d = Math.hypot(x - (ax + t * dx), y - (ay + t * dy));
      if (d < best) { best = d; along = acc + t * len; }
      acc += len;
    }
    if (xy.length === 2) { best = Math.hypot(x - xy[0], y - xy[1]); }
    return [best, acc > 0 ? along / acc : 0];
  }

  // Per mode, 1 on the segments of a small piece of its network (network.small_piece_segments).
  var small = MODES.map(function (mode) {
    var flags = new Uint8Array(nSeg), list = varints(NET.small[mode]);
    for (var i = 0; i < list.length; i++) { flags[list[i]] = 1; }
    return flags;
  });

  /* The engine's join of a point (metres from the origin) in mode m (network._join_points): the nearest
     usable segment within max_snap_m or, when that lies on a small piece of the network, the nearest
     segment off such pieces within max_snap_m if there is one (`island_m`: metres to the piece skipped;
     `on_island`: none, the site stays on it); split at the nearest point (or that segment's end when
     within END_M of it). */
  function join(x, y, m) {
    var g = grid, ci = Math.floor((x - g.minx) / g.cell), cj = Math.floor((y - g.miny) / g.cell);
    var best = INF, bestSeg = -1, bestFrac = 0, secs = segS[m], isl = small[m];
    var main = INF, mainSeg = -1, mainFrac = 0;  // the nearest segment not on a small piece
    var rings = Math.ceil(NET.max_snap_m / g.cell) + 1;
    function visit(s) {
      if (seen[s] === stamp) { return; }
      seen[s] = stamp;
      if (!(secs[s] >= 0)) { return; }
      var hit = locate(s, x, y);
      if (hit[0] < best) { best = hit[0]; bestSeg = s; bestFrac = hit[1]; }
      if (!isl[s] && hit[0] < main) { main = hit[0]; mainSeg = s; mainFrac = hit[1]; }
    }
    stamp++;
    // Ring by ring: after ring r every segment nearer than r cells has been seen.
    for (var r = 0; r <= rings; r++) {
      for (var i = ci - r; i <= ci + r; i++) {
        if (i === ci - r || i === ci + r) { for (var j = cj - r; j <= cj + r; j++) { forCell(g, i, j, visit); } }
        else { forCell(g, i, cj - r, visit); forCell(g, i, cj + r, visit); }
      }
      if (best <= r * g.cell && (!isl[bestSeg] || main <= r * g.cell)) { break; }
    }
    if (bestSeg < 0 || !(best <= NET.max_snap_m)) { return {joined: false, access_m: best}; }
    var islandM = null, onIsland = isl[bestSeg] === 1 && !(main <= NET.max_snap_m);
    if (isl[bestSeg] && !onIsland) { islandM = best; best = main; bestSeg = mainSeg; bestFrac = mainFrac; }
    var metres = segLen[bestSeg], node = -1;
    if (bestFrac * metres <= NET.end_m) { node = segU[bestSeg]; }
    else if ((1 - bestFrac) * metres <= NET.end_m) { node = segV[bestSeg]; }
    return {joined: true, seg: bestSeg, frac: bestFrac, node: node, access_m: best,
            leg_s: best / NET.access_kmh * 3.6, island_m: islandM, on_island: onIsland};
  }

  // Adjacency (CSR) per mode and direction, built when first needed.
  var graphs = {};
  function graph(m, reverse) {
    var key = m + (reverse ? 'r' : 'f');
    if (graphs[key]) { return graphs[key]; }
    var secs = segS[m], two = twoWay[m], start = new Int32Array(n0 + 1), s, a, b, k;
    for (s = 0; s < nSeg; s++) {
      if (secs[s] >= 0) { start[(reverse ? segV[s] : segU[s]) + 1]++; if (two[s]) { start[(reverse ? segU[s] : segV[s]) + 1]++; } }
    }
    for (a = 0; a < n0; a++) { start[a + 1] += start[a]; }
    var fill = start.slice(0, n0), to = new Int32Array(start[n0]), w = new Float64Array(start[n0]);
    for (s = 0; s < nSeg; s++) {
      if (!(secs[s] >= 0)) { continue; }
      // The arc u -> v (and v -> u on two-way roads); the reverse graph stores each arc at its head.
      a = reverse ? segV[s] : segU[s]; b = reverse ? segU[s] : segV[s];
      k = fill[a]++; to[k] = b; w[k] = secs[s];
      if (two[s]) { k = fill[b]++; to[k] = a; w[k] = secs[s]; }
    }
    graphs[key] = {start: start, to: to, w: w};
    return graphs[key];
  }

  /* Seconds from the seeds ([node, seconds] pairs) to every junction; exact up to `bound`. */
  function dijkstra(g, seeds, bound) {
    var dist = new Float64Array(n0).fill(INF), cap = 1024, size = 0;
    var hk = new Float64Array(cap), hn = new Int32Array(cap);
    function push(d, n) {
      if (size === cap) {
        cap *= 2;
        var k2 = new Float64Array(cap); k2.set(hk); hk = k2;
        var n2 = new Int32Array(cap); n2.set(hn); hn = n2;
      }
      var i = size++;
      while (i > 0) {
        var p = (i - 1) >> 1;
        if (hk[p] <= d) { break; }
        hk[i] = hk[p]; hn[i] = hn[p]; i = p;
      }
      hk[i] = d; hn[i] = n;
    }
    function pop() {
      var d = hk[--size], n = hn[size], i = 0, half = size >> 1;
      while (i < half) {
        var c = 2 * i + 1;
        if (c + 1 < size && hk[c + 1] < hk[c]) { c++; }
        if (hk[c] >= d) { break; }
        hk[i] = hk[c]; hn[i] = hn[c]; i = c;
      }
      hk[i] = d; hn[i] = n;
    }
    seeds.forEach(function (seed) {
      if (seed[1] < dist[seed[0]]) { dist[seed[0]] = seed[1]; push(seed[1], seed[0]); }
    });
    var start = g.start, to = g.to, w = g.w;
    while (size > 0) {
      var d = hk[0], n = hn[0];
      pop();
      if (d > dist[n]) { continue; }
      if (d > bound) { break; }
      for (var k = start[n]; k < start[n + 1]; k++) {
        var nd = d + w[k], v = to[k];
        if (nd < dist[v]) { dist[v] = nd; push(nd, v); }
      }
    }
    return dist;
  }

  // ------------------------------------------------------------------ villages and tiers
  var V = data.villages, nv = V.vid.length, TIERS = data.tiers, KINDS = data.kinds, BANDS = data.bands_min;
  var pops = new Float64Array(nv);
  for (var p0 = 0; p0 < nv; p0++) { pops[p0] = V.population[p0]; }  // persons; missing ones are 0
  var joins = MODES.map(function (mode) { return NET.joins[mode]; });
  function before(tier) {
    var out = new Float64Array(nv), src = V.before[tier];
    for (var i = 0; i < nv; i++) { out[i] = src[i] === null ? NaN : src[i]; }
    return out;
  }
  var BEFORE = {};
  Object.keys(TIERS).forEach(function (t) { BEFORE[t] = before(t); });
  // Each tier's adjacency is built now rather than on the first placement.
  Object.keys(TIERS).forEach(function (t) { graph(MODES.indexOf(TIERS[t].mode), TIERS[t].toward); });
  function tiersOf(kind) { return Object.keys(TIERS).filter(function (t) { return TIERS[t].kinds.indexOf(kind) >= 0; }); }

  /* Seconds from every village to the site (toward) or from the site to every village, in mode m;
     Infinity where the site is not the faster way (beyond every village's baseline time). */
  function siteTimes(site, m, toward) {
    var key = m + (toward ? 't' : 'f');
    if (site.times[key]) { return site.times[key]; }
    var out = new Float64Array(nv).fill(INF), j = site.joins[m];
    if (!j) { j = site.joins[m] = site.xy ? join(site.xy[0], site.xy[1], m) : {joined: false, access_m: INF}; }
    site.times[key] = out;
    if (!j.joined) { return out; }
    // Only villages that could gain matter: stop the search past the slowest baseline time.
    var bound = 0, J = joins[m];
    tiersOf(site.kind).forEach(function (t) {
      if (TIERS[t].mode !== MODES[m] || TIERS[t].toward !== toward) { return; }
      var b = BEFORE[t];
      for (var i = 0; i < nv; i++) { if (J.leg_s[i] !== null) { bound = Math.max(bound, b[i] >= 0 ? b[i] : INF); } }
    });
    var S = segS[m], two = twoWay[m], seeds;
    if (j.node >= 0) { seeds = [[j.node, j.leg_s]]; }
    else {
      var cost = S[j.seg];
      // Toward the site: from u along the segment to the join (and from v on two-way roads); from it: the reverse.
      seeds = toward ? [[segU[j.seg], j.frac * cost + j.leg_s]] : [[segV[j.seg], (1 - j.frac) * cost + j.leg_s]];
      if (two[j.seg]) {
        seeds.push(toward ? [segV[j.seg], (1 - j.frac) * cost + j.leg_s] : [segU[j.seg], j.frac * cost + j.leg_s]);
      }
    }
    var dist = dijkstra(graph(m, toward), seeds, bound);
    for (var i = 0; i < nv; i++) {
      var leg = J.leg_s[i];
      if (leg === null) { continue; }
      var t, node = J.node[i];
      if (node >= 0) { t = dist[node]; }
      else {
        var s = J.seg[i], f = J.frac[i], c = S[s];
        t = toward ? (1 - f) * c + dist[segV[s]] : dist[segU[s]] + f * c;
        if (two[s]) { t = Math.min(t, toward ? f * c + dist[segU[s]] : dist[segV[s]] + (1 - f) * c); }
        if (j.node < 0 && j.seg === s) {  // on the same segment: straight along it, where allowed
          var ahead = toward ? j.frac - f : f - j.frac;
          if (ahead >= 0 || two[s]) { t = Math.min(t, Math.abs(ahead) * c + j.leg_s); }
        }
      }
      out[i] = t + leg;
    }
    return out;
  }

  function round1(x) { return Math.round(x * 10) / 10; }
  function weightedMean(minutes) {
    var total = 0, sum = 0;
    for (var i = 0; i < nv; i++) {
      if (!isNaN(minutes[i]) && pops[i] > 0) { total += pops[i]; sum += minutes[i] * pops[i]; }
    }
    return total > 0 ? sum / total : null;
  }
  /* The smallest time whose cumulative population reaches 95 % (compare.weighted_p95). */
  function weightedP95(minutes) {
    var idx = [];
    for (var i = 0; i < nv; i++) { if (!isNaN(minutes[i]) && pops[i] > 0) { idx.push(i); } }
    if (!idx.length) { return null; }
    idx.sort(function (a, b) { return minutes[a] - minutes[b] || a - b; });
    var total = 0;
    idx.forEach(function (i) { total += pops[i]; });
    var target = 0.95 * total * (1 - 1e-12), cum = 0;
    for (var k = 0; k < idx.length; k++) { cum += pops[idx[k]]; if (cum >= target) { return minutes[idx[k]]; } }
    return minutes[idx[idx.length - 1]];
  }
  function covered(minutes, band) {
    var sum = 0;
    for (var i = 0; i < nv; i++) { if (minutes[i] <= band) { sum += pops[i]; } }
    return sum;
  }

  /* The comparison of one tier with every placed site of its kinds (compare.py's county row). */
  function tierResult(tier) {
    var spec = TIERS[tier], m = MODES.indexOf(spec.mode), b = BEFORE[tier];
    var after = new Float64Array(nv);
    for (var i = 0; i < nv; i++) { after[i] = isNaN(b[i]) ? INF : b[i]; }
    sites.forEach(function (site) {
      if (spec.kinds.indexOf(site.kind) < 0) { return; }
      var t = siteTimes(site, m, spec.toward);
      for (var k = 0; k < nv; k++) { var r = round1(t[k]); if (r < after[k]) { after[k] = r; } }
    });
    var mb = new Float64Array(nv), ma = new Float64Array(nv), villages = [];
    for (var v = 0; v < nv; v++) {
      if (after[v] === INF) { after[v] = NaN; }
      mb[v] = b[v] / 60; ma[v] = after[v] / 60;
      villages.push({vid: V.vid[v], before_s: isNaN(b[v]) ? null : b[v], after_s: isNaN(after[v]) ? null : after[v]});
    }
    var gain = {}, popBefore = {}, popAfter = {};
    BANDS.forEach(function (band) {
      popBefore[band] = covered(mb, band); popAfter[band] = covered(ma, band);
      gain[band] = popAfter[band] - popBefore[band];
    });
    return {tier: tier, villages: villages, gain: gain, pop_before: popBefore, pop_after: popAfter,
            mean_min_before: weightedMean(mb), mean_min_after: weightedMean(ma),
            p95_min_before: weightedP95(mb), p95_min_after: weightedP95(ma)};
  }

  // ------------------------------------------------------------------ placed sites
  var sites = [], counter = 0, fids = {};
  data.fids.forEach(function (f) { fids[f] = true; });
  function newFid() {
    do { counter++; } while (fids['NEW' + counter]);
    return 'NEW' + counter;
  }
  function defaultName(kind, fid) { return TXT.new_prefix + KINDS[kind].name + ' ' + fid.slice(3); }
  function locateSite(site, lon, lat) {
    site.lon = round8(lon); site.lat = round8(lat);
    site.xy = toMetric(site.lon, site.lat);
    site.joins = []; site.times = {};
  }
  function siteInfo(site) {
    var joinsOut = {};
    tiersOf(site.kind).forEach(function (t) {
      var m = MODES.indexOf(TIERS[t].mode);
      if (!site.joins[m]) { site.joins[m] = site.xy ? join(site.xy[0], site.xy[1], m) : {joined: false, access_m: INF}; }
      var j = site.joins[m];
      joinsOut[MODES[m]] = {joined: j.joined, access_m: isFinite(j.access_m) ? j.access_m : null,
                            island_m: j.island_m === undefined ? null : j.island_m, on_island: !!j.on_island};
    });
    return {fid: site.fid, name: site.name, kind: site.kind, tier: KINDS[site.kind].tier, lon: site.lon,
            lat: site.lat, inside: site.xy !== null, joins: joinsOut};
  }
  function affectedTiers() {
    var out = [];
    Object.keys(TIERS).forEach(function (t) {
      if (sites.some(function (s) { return TIERS[t].kinds.indexOf(s.kind) >= 0; })) { out.push(t); }
    });
    return out;
  }
  /* Everything the page shows: each tier any placed site changes, and the sites. */
  function result() {
    var tiers = {};
    affectedTiers().forEach(function (t) { tiers[t] = tierResult(t); });
    return {tiers: tiers, sites: sites.map(siteInfo)};
  }

  // ------------------------------------------------------------------ scenario file
  function scenarioYaml() {
    var lines = ['# healthreach scenario: facilities placed in coverage_map.html with the what-if tool.',
                 '# Check it with: healthreach compare PROJECT.yml THIS_FILE.yml', 'name: whatif',
                 'title: ' + JSON.stringify(TXT.scenario_title.replace('{project}', data.project)
                                             .replace('{n}', String(sites.length)))];
    if (!sites.length) { lines.push('changes: []'); }
    else { lines.push('changes:'); }
    sites.forEach(function (s) {
      lines.push('  - add: {fid: ' + JSON.stringify(s.fid) + ', name: ' + JSON.stringify(s.name) +
                 ', kind: ' + s.kind + ', lon: ' + s.lon.toFixed(8) + ', lat: ' + s.lat.toFixed(8) + ', crs: wgs84}');
    });
    return lines.join('\n') + '\n';
  }

  function findSite(fid) { return sites.filter(function (s) { return s.fid === fid; })[0] || null; }
  /* A new site ({lon, lat} in WGS84 degrees, rounded to 1e-8 as the scenario file writes them). */
  function place(lon, lat, kind, name) {
    if (!KINDS[kind]) {
      throw new Error('unknown kind ' + JSON.stringify(kind) + ' (expected one of ' + Object.keys(KINDS).join(', ') + ')');
    }
    if (!isFinite(lon) || !isFinite(lat)) { throw new Error('lon and lat must be numbers (degrees, WGS84)'); }
    var fid = newFid(), site = {fid: fid, kind: kind};
    site.name = (typeof name === 'string' && name.trim()) ? name.trim() : defaultName(kind, fid);
    locateSite(site, lon, lat);
    sites.push(site);
    return site;
  }
  function rename(site, name) { site.name = (name || '').trim() || defaultName(site.kind, site.fid); }
  function remove(fid) { sites = sites.filter(function (s) { return s.fid !== fid; }); }

  // Compile the placement path now, on a trial site at the first village that is not kept, so that
  // the planner's first click is as quick as the next.
  if (nv && Object.keys(KINDS).length) {
    var trial = {fid: '', name: '', kind: data.default_kind};
    var first = fromDisplay({lat: V.latlon[0][0], lng: V.latlon[0][1]});
    locateSite(trial, first[0], first[1]);
    sites.push(trial);
    result();
    sites.pop();
  }

  return {
    modes: MODES, tiers: TIERS, kinds: KINDS, bands: BANDS, villages: V, populations: pops, text: TXT,
    network: {n0: n0, nSeg: nSeg, nodeXY: nodeXY, vertXY: vertXY, vstart: vstart, explicit: explicit,
              segU: segU, segV: segV, segPal: segPal, palette: PAL, styles: NET.road_styles, maxSnapM: NET.max_snap_m},
    boxes: boxes, bucketGrid: bucketGrid, forCell: forCell, toLonLat: toLonLat, display: display,
    fromDisplay: fromDisplay, sites: function () { return sites; }, findSite: findSite, place: place,
    move: locateSite, rename: rename, remove: remove, clear: function () { sites = []; }, siteInfo: siteInfo,
    result: result, scenarioYaml: scenarioYaml
  };
}
