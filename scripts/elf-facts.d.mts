export declare function compareVersions(a: string, b: string): number;
export declare function elfFacts(path: string): { machine: string; needed: string[]; glibcMax: string | null; glibcVersions: string[] };
