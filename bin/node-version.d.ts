/** The oldest Node that runs omni. */
export declare const minimumNode: string;
/** Why this Node cannot run omni, in one line, or undefined when it can. */
export declare function nodeVersionProblem(found: string, minimum?: string): string | undefined;
