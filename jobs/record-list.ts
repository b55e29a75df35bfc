/**
 * An immutable list that grows at its end in constant time: each version shares every item of
 * the one before. The job state keeps artifacts and refusals in one, so folding n of them costs n
 * steps, where copying an array per event cost n²/2 (minutes for 100,000 refusals).
 */
export interface RecordList<Item> {
  readonly last: Item;
  readonly before: RecordList<Item> | undefined;
  readonly size: number;
}

/** The list with `item` after every item of `list` (absent: the empty list). */
export const appendRecord = <Item>(list: RecordList<Item> | undefined, item: Item): RecordList<Item> => ({
  last: item,
  before: list,
  size: (list?.size ?? 0) + 1,
});

/** The items oldest first, as a fresh array. */
export function recordsOf<Item>(list: RecordList<Item> | undefined): Item[] {
  const items = new Array<Item>(list?.size ?? 0);
  for (let node = list, index = items.length - 1; node !== undefined; node = node.before, index -= 1)
    items[index] = node.last;
  return items;
}
