/** Where `npm run build` puts the page. */
export declare const DEFAULT_CLIENT_OUTDIR: string;
/** Bundles the page into `outdir`; returns the byte size of each file written, by name. */
export declare function buildClient(options?: { outdir?: string }): Promise<Record<string, number>>;
