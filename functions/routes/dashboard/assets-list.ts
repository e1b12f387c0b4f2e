/**
 * The files the dashboard serves under /assets/: its own client script and styles, and Swagger UI
 * for /docs (from the swagger-ui-dist package, served from here, never a CDN). Paths are from the
 * repository's root. Pure data: infra/handlers.ts copies the same files next to the HTTP function's
 * bundle (ASSETS_DIR_IN_BUNDLE), where functions/routes/dashboard/assets.ts reads them on Lambda.
 */
export const DASHBOARD_ASSETS = [
  { name: "client.js", source: "functions/routes/dashboard/assets/client.js", type: "text/javascript" },
  { name: "style.css", source: "functions/routes/dashboard/assets/style.css", type: "text/css" },
  { name: "docs.js", source: "functions/routes/dashboard/assets/docs.js", type: "text/javascript" },
  {
    name: "swagger-ui-bundle.js",
    source: "node_modules/swagger-ui-dist/swagger-ui-bundle.js",
    type: "text/javascript",
  },
  { name: "swagger-ui.css", source: "node_modules/swagger-ui-dist/swagger-ui.css", type: "text/css" },
] as const;

export type AssetName = (typeof DASHBOARD_ASSETS)[number]["name"];

/** The folder, next to the HTTP function's bundle on Lambda, the assets are copied into. */
export const ASSETS_DIR_IN_BUNDLE = "dashboard-assets";
