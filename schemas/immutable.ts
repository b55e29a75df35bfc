/**
 * A type inferred from a zod schema, made read-only all the way down. Zod's own `.readonly()`
 * would freeze every parsed value at run time; this only tells the compiler not to write.
 */
export type Immutable<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer Element)[]
    ? readonly Immutable<Element>[]
    : T extends object
      ? { readonly [Key in keyof T]: Immutable<T[Key]> }
      : T;
