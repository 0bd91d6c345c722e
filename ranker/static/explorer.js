// Live topic page: poll the queue's JSON and update CTR, exposures, fresh markers and order in place.
(function () {
  "use strict";
  const grid = document.getElementById("queue");
  if (!grid) return;
  const every = Number(grid.dataset.refreshMs) || 2000;
  const live = document.getElementById("live");
  const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(2) + "%");
  const num = (x) => (x === null || x === undefined ? "–" : x.toLocaleString("en"));
  const text = (el, sel, value) => { const n = el.querySelector(sel); if (n) n.textContent = value; };

  function newCard(v) {
    const el = document.createElement("figure");
    el.className = "card";
    el.id = "v-" + v.video_id;
    el.dataset.videoId = v.video_id;
    const media = v.cover ? document.createElement("img") : document.createElement("div");
    if (v.cover) { media.src = "/covers/" + v.video_id; media.alt = "cover of video " + v.video_id; media.width = media.height = 96; }
    else { media.className = "nocover"; media.textContent = "#" + v.video_id; }
    const cap = document.createElement("figcaption");
    cap.innerHTML = '<span class="rank"></span><span class="title"></span><span class="stats"><b class="ctr"></b> CTR · ' +
      '<span class="exposures"></span> exp · <span class="clicks"></span> clk</span><span class="badge fresh-badge">fresh</span>';
    cap.querySelector(".title").textContent = v.title || "video " + v.video_id;
    el.append(media, cap);
    return el;
  }

  function apply(q) {
    const keep = new Set();
    q.videos.forEach((v, i) => {
      const el = document.getElementById("v-" + v.video_id) || newCard(v);
      const exposures = v.exposures === null ? "" : String(v.exposures);
      // a refit of the prior moves every CTR a little: flash only what a reader can see change
      const ctrNode = el.querySelector(".ctr");
      const changed = (ctrNode && ctrNode.textContent !== pct(v.ctr)) || el.dataset.exposures !== exposures;
      el.dataset.ctr = v.ctr;
      el.dataset.exposures = exposures;
      el.dataset.clicks = v.clicks === null ? "" : String(v.clicks);
      el.dataset.fresh = v.fresh ? "1" : "0";
      el.dataset.rank = v.rank;
      el.classList.toggle("is-fresh", v.fresh);
      text(el, ".ctr", pct(v.ctr));
      text(el, ".exposures", num(v.exposures));
      text(el, ".clicks", num(v.clicks));
      text(el, ".rank", v.rank);
      if (changed && el.isConnected) {  // flash what moved
        el.classList.add("changed");
        setTimeout(() => el.classList.remove("changed"), 1200);
      }
      if (grid.children[i] !== el) grid.insertBefore(el, grid.children[i] || null);
      keep.add(el.id);
    });
    Array.from(grid.children).forEach((el) => { if (!keep.has(el.id)) el.remove(); });
    text(document, "#topic-size", q.size);
    text(document, "#topic-fresh", q.fresh);
    text(document, "#topic-mean-ctr", pct(q.mean_ctr));
  }

  async function poll() {
    try {
      const r = await fetch(grid.dataset.api, { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      apply(await r.json());
      grid.dataset.refreshes = Number(grid.dataset.refreshes) + 1;
      live.classList.remove("stale");
      live.textContent = "live";
    } catch (err) {
      live.classList.add("stale");
      live.textContent = "not refreshed: " + err.message;
    } finally {
      setTimeout(poll, every);
    }
  }
  setTimeout(poll, every);
})();
