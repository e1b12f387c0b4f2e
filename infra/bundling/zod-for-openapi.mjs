// What @hono/zod-openapi needs of zod's namespace in a bundle (see ./plugins.mjs): the class whose
// prototype it extends with `.openapi()` — the same class every schema of ours is an instance of.
import { ZodType } from "zod";

export const z = { ZodType };
