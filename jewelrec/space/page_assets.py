"""The Space page's own CSS and JavaScript, as strings the layout (:mod:`jewelrec.space.ui`) hands to gradio:
the script that makes product cards and their stars interactive (``CARDS_JS``), the style map's (``MAP_JS``),
the page's stylesheet (``CSS``) and the bit of it that must sit in the page's ``<head>`` (``HEAD``)."""

# Product cards are gr.HTML; events are delegated from the component's root, so they keep working when the cards
# are re-rendered. A card (click, or Enter/Space on it) or a Rate card's "More like this" sends that piece's id as
# the "click" event's data; a star sends {item_id, stars} as "submit" and lights up at once (the save follows;
# arrow keys save once the choice has rested 0.4 s, so a run of key presses is one save, not a race of several).
CARDS_JS = """
const piece = (el) => el.closest('[data-item]');
const light = (star) => {
  const n = Number(star.dataset.stars);
  star.parentElement.querySelectorAll('[data-stars]').forEach((b) => {
    const m = Number(b.dataset.stars);
    b.classList.toggle('on', m <= n);
    b.setAttribute('aria-checked', String(m === n));
    b.tabIndex = m === n ? 0 : -1;
  });
};
const waiting = new Map();  // card → timer: arrow keys settle on a choice before it is saved (one save, in order)
const rate = (star, settle = 0) => {
  light(star);
  const card = piece(star);
  clearTimeout(waiting.get(card));
  const send = () => { waiting.delete(card); trigger('submit', {item_id: card.dataset.item, stars: Number(star.dataset.stars)}); };
  if (settle) waiting.set(card, setTimeout(send, settle)); else send();
};
element.addEventListener('click', (event) => {
  const star = event.target.closest('[data-stars]');
  if (star && element.contains(star)) return rate(star);
  const more = event.target.closest('[data-more]');
  const card = event.target.closest('.jr-card');
  if (!card || !element.contains(card) || (card.classList.contains('jr-rate') && !more)) return;
  trigger('click', {item_id: piece(card).dataset.item});
});
element.addEventListener('keydown', (event) => {
  const star = event.target.closest('[data-stars]');
  if (star) {  // the WAI-ARIA radio group: arrows move the choice, Enter/Space (a native button click) rate
    const n = Number(star.dataset.stars);
    const next = {ArrowRight: n + 1, ArrowUp: n + 1, ArrowLeft: n - 1, ArrowDown: n - 1, Home: 1, End: 5}[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const target = star.parentElement.querySelector(`[data-stars="${Math.min(5, Math.max(1, next))}"]`);
    target.focus();
    return rate(target, 400);
  }
  const card = event.target.closest('.jr-card');
  if (!card || card.classList.contains('jr-rate') || (event.key !== 'Enter' && event.key !== ' ')) return;
  event.preventDefault();
  trigger('click', {item_id: piece(card).dataset.item});
});
"""

# The style map: a legend chip picks a style (its dots stand out, the style guide below shows it); hovering a dot
# fetches its picture from the server once (server.hover) and shows it beside the pointer; clicking a dot opens
# the piece in Similar.
MAP_JS = """
const seen = new Map();  // item id → hover card, fetched once per page
const tipOf = () => element.querySelector('.jr-tip');  // the map arrives when the tab first opens
let shown = null;
element.addEventListener('click', (event) => {
  const chip = event.target.closest('.jr-chip');
  if (chip) {
    const on = chip.getAttribute('aria-pressed') !== 'true';
    element.querySelectorAll('.jr-chip').forEach((c) => c.setAttribute('aria-pressed', String(on && c === chip)));
    element.querySelector('svg').classList.toggle('focus', on);
    element.querySelectorAll('circle').forEach((d) => d.classList.toggle('on', on && d.dataset.style === chip.dataset.style));
    if (on) trigger('submit', {style: Number(chip.dataset.style)});
    return;
  }
  const dot = event.target.closest('circle');
  if (dot) trigger('click', {item_id: dot.dataset.item});
});
element.addEventListener('mouseover', async (event) => {
  const dot = event.target.closest('circle');
  const tip = tipOf();
  if (!dot || !tip) return;
  shown = dot.dataset.item;
  const box = element.querySelector('.jr-map').getBoundingClientRect();
  const at = dot.getBoundingClientRect();
  tip.style.left = `${Math.min(at.left - box.left + 12, box.width - 230)}px`;
  tip.style.top = `${Math.max(at.top - box.top - 90, 0)}px`;
  if (!seen.has(shown)) seen.set(shown, await server.hover(shown));
  if (shown !== dot.dataset.item) return;
  tip.innerHTML = seen.get(shown);
  tip.hidden = !tip.innerHTML;
});
element.addEventListener('mouseout', (event) => {
  const tip = tipOf();
  if (tip && event.target.closest('circle')) { shown = null; tip.hidden = true; }
});
"""

CSS = """
.gradio-container {max-width: 1180px !important; width: 100% !important; margin: auto;}
.gradio-container .tabs, .gradio-container .tabitem {width: 100%; min-width: 0;}
#hero h1 {font-size: 2.1rem; margin-bottom: 0; letter-spacing: -0.02em;}
#hero p {color: var(--body-text-color-subdued); margin-top: .2rem;}
.jr-grid {display: grid; grid-template-columns: repeat(auto-fill, minmax(min(200px, calc(50% - 7px)), 1fr));
          gap: 14px; width: 100%;}
.jr-card {border: 1px solid var(--border-color-primary); border-radius: 14px; overflow: hidden;
          background: var(--background-fill-primary); box-shadow: 0 1px 4px rgba(0,0,0,.07);
          transition: box-shadow .15s, transform .15s; display: flex; flex-direction: column;}
.jr-card[role=button] {cursor: pointer;}
.jr-card[role=button]:hover, .jr-card[role=button]:focus-visible {box-shadow: 0 4px 14px rgba(0,0,0,.14);
          transform: translateY(-2px);}
.jr-card:focus-visible, .jr-star:focus-visible, .jr-more:focus-visible, .jr-chip:focus-visible {
          outline: 2px solid var(--primary-500); outline-offset: 2px;}
.jr-card img, .jr-noimg {width: 100%; aspect-ratio: 1; object-fit: contain; display: block; background: #f4f1ec;}
.jr-noimg {display: flex; align-items: center; justify-content: center; font-size: 2rem; color: #c9b8a6;}
.jr-body {padding: 10px 12px 12px; display: flex; flex-direction: column; flex: 1;}
.jr-name {font-weight: 600; font-size: .95rem; line-height: 1.25; overflow-wrap: anywhere;}
.jr-meta {color: var(--body-text-color-subdued); font-size: .8rem; margin-top: 2px; overflow-wrap: anywhere;}
.jr-why {font-size: .8rem; margin-top: 6px; font-style: italic;}
.jr-score {height: 5px; border-radius: 3px; background: var(--neutral-200); margin-top: auto; overflow: hidden;}
.jr-why + .jr-score, .jr-meta + .jr-score {margin-top: 8px;}
.jr-score span {display: block; height: 100%; background: var(--primary-500);}
.jr-num {font-size: .7rem; color: var(--body-text-color-subdued); margin-top: 3px;}
.jr-stars {display: flex; gap: 2px; margin-top: 8px; flex-wrap: nowrap;}
.jr-star {font-size: 1.55rem; line-height: 1; padding: 2px 3px; border: 0; background: none; cursor: pointer;
          color: var(--neutral-300); border-radius: 6px; min-width: 30px; min-height: 34px; box-shadow: none;}
.jr-star.on {color: #f5a623;}
.jr-stars:hover .jr-star {color: #f5c77a;}
.jr-stars .jr-star:hover ~ .jr-star {color: var(--neutral-300);}
.jr-more {margin-top: 8px; align-self: flex-start; border: 1px solid var(--border-color-primary); border-radius: 8px;
          background: var(--background-fill-secondary); padding: 4px 10px; font-size: .8rem; cursor: pointer;}
.jr-empty {padding: 24px; text-align: center; color: var(--body-text-color-subdued);}
.jr-section {margin: 22px 0 10px; font-size: 1.05rem;}
.jr-note {margin: 0 0 12px; padding: 8px 12px; border-left: 3px solid var(--primary-500);
  background: var(--background-fill-secondary); color: var(--body-text-color); border-radius: 4px;}
.jr-query {display: flex; gap: 14px; align-items: center; padding: 10px; margin-bottom: 12px; border-radius: 14px;
           border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);}
.jr-query img, .jr-query .jr-noimg {width: 96px; height: 96px; object-fit: contain; border-radius: 10px;
           background: #f4f1ec; flex: none;}
.jr-kicker {font-size: .75rem; text-transform: uppercase; letter-spacing: .06em;
            color: var(--body-text-color-subdued);}
.jr-legend {display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 8px;}
.jr-chip {display: inline-flex; align-items: center; gap: 6px; padding: 4px 10px; border-radius: 999px;
          border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
          font-size: .82rem; cursor: pointer;}
.jr-chip[aria-pressed=true] {border-color: var(--primary-500); background: var(--primary-50);}
.jr-swatch {width: 12px; height: 12px; border-radius: 50%; display: inline-block; flex: none;}
.jr-count {color: var(--body-text-color-subdued); font-size: .75rem;}
.jr-map {position: relative; width: 100%;}
.jr-map svg {width: 100%; height: auto; display: block; border-radius: 14px; background: #faf8f5;
             border: 1px solid var(--border-color-primary);}
.jr-map circle {stroke: #fff; stroke-width: 1; opacity: .85; cursor: pointer;}
.jr-map circle:hover {stroke: #222; stroke-width: 2; opacity: 1;}
.jr-map svg.focus circle {opacity: .12;}
.jr-map svg.focus circle.on {opacity: 1;}
.jr-tip {position: absolute; width: 220px; pointer-events: none; z-index: 5;}
.jr-tip .jr-query {margin: 0; background: var(--background-fill-primary); box-shadow: 0 4px 14px rgba(0,0,0,.15);}
.jr-tip .jr-query img {width: 64px; height: 64px;}
.jr-guide-head {display: flex; align-items: center; gap: 8px; flex-wrap: wrap;}
.jr-guide-head h3 {margin: 0; font-size: 1.1rem;}
.jr-traits {display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0 4px;}
.jr-trait {font-size: .8rem; padding: 2px 8px; border-radius: 999px; background: var(--background-fill-secondary);
           border: 1px dashed var(--border-color-primary);}
.jr-trait.claimed {border-style: solid;}
.jr-guide .jr-grid {margin-top: 10px; grid-template-columns: repeat(auto-fill, minmax(min(160px, calc(50% - 7px)), 1fr));}
.jr-figure {margin: 0 0 16px; max-width: 100%;}
.jr-figure img {max-width: 100%; height: auto; display: block;}
.jr-figure figcaption {font-size: .8rem; color: var(--body-text-color-subdued);}
#footer {font-size: .8rem; color: var(--body-text-color-subdued); text-align: center; margin-top: 1rem;}
@media (max-width: 480px) {
  #hero h1 {font-size: 1.6rem;}
  .jr-grid {gap: 10px; grid-template-columns: repeat(2, minmax(0, 1fr));}
  #tabs .tab-container button {padding: 0 6px; font-size: .9rem;}
  .jr-body {padding: 8px 9px 10px;}
  .jr-star {font-size: 1.3rem; min-width: 24px; padding: 2px 1px;}
}
"""


# gradio scopes the css above to its content column; the page's side padding (32 px, a tenth of a phone) lies
# outside it, so it is set from the page's <head>
HEAD = ("<style>@media (max-width: 480px) {.gradio-container .main.app {padding-left: 12px !important; "
        "padding-right: 12px !important;}}</style>")
