/* An incident's symbol, the same on the map, in the lists and on the cards: a shape and one glyph by
   category, the fill by state, a red ring when overdue, a dashed ring in the triage queue. */
import { STATE, esc, isOverdue } from "web/helpers.js";

// Category symbol: a shape and one glyph; unknown categories get a circle and their first character.
const CATEGORY = {
  illegal_construction: ["square", "违"], straw_burning: ["triangle", "火"], public_security: ["diamond", "安"],
  rental_housing: ["house", "房"], work_safety: ["hexagon", "产"], environment_sanitation: ["circle", "环"],
  roads_facilities: ["octagon", "路"], neighbour_dispute: ["pentagon", "纠"], other: ["circle", "其"]
};
const SHAPES = {
  circle: '<circle cx="14" cy="14" r="9"/>',
  square: '<rect x="5.5" y="5.5" width="17" height="17" rx="2"/>',
  diamond: '<path d="M14 3.5L24.5 14L14 24.5L3.5 14Z"/>',
  triangle: '<path d="M14 4L24.5 22.5H3.5Z"/>',
  house: '<path d="M14 4L24 12V23.5H4V12Z"/>',
  hexagon: '<path d="M14 4L22.7 9V19L14 24L5.3 19V9Z"/>',
  octagon: '<path d="M10 4.5H18L23.5 10V18L18 23.5H10L4.5 18V10Z"/>',
  pentagon: '<path d="M14 4L23.5 11L20 23H8L4.5 11Z"/>'
};

/* The symbol as inline SVG, `size` pixels wide (28 on the map). */
export function symbolSvg(p, size) {
  const cat = CATEGORY[p.category] || ["circle", (p.category_name || p.category || "?").charAt(0)];
  const colour = (STATE[p.state] || STATE.reported)[2];
  const ring = isOverdue(p) ? '<circle cx="14" cy="14" r="12.5" fill="none" stroke="#e03131" stroke-width="3"/>' : "";
  const triage = p.triage ? '<circle cx="14" cy="14" r="12.5" fill="none" stroke="#c2255c" stroke-width="1.5" stroke-dasharray="3 2"/>' : "";
  size = size || 28;
  return '<svg class="inc-svg" width="' + size + '" height="' + size + '" viewBox="0 0 28 28" aria-hidden="true">' +
    ring + triage + '<g fill="' + colour + '" stroke="#fff" stroke-width="1.5">' + SHAPES[cat[0]] + "</g>" +
    '<text x="14" y="14.5" text-anchor="middle" dominant-baseline="central" font-size="10" fill="#fff">' +
    esc(cat[1]) + "</text></svg>";
}
