/** Headless rendering: Vega-Lite → Vega → SVG text, with no canvas or browser; SVG → PNG by resvg. */
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/** Renders a Vega-Lite spec to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** How many PNG pixels per SVG unit: sharp on high-density screens and in documents. */
export const PNG_SCALE = 2;

/**
 * Renders an SVG document to PNG bytes at PNG_SCALE, on a white background (the SVGs are
 * transparent). Text uses the system's fonts (sans-serif); without any, labels are left out.
 */
export function renderPng(svg: string): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: PNG_SCALE },
    background: "white",
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
  });
  return resvg.render().asPng();
}
