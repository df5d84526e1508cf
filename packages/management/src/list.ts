/**
 * RabbitMQ's list query parameters: name filter (substring, or regex with use_regex=true,
 * matched in linear time: linear-regex.ts),
 * sort / sort_reverse (dotted paths), columns (dotted paths to keep) and pagination
 * (page, page_size -> {items, page, page_count, page_size, item_count, filtered_count, total_count}).
 */
import { badRequest } from './http.js';
import { linearRegex, type LinearRegex } from '@junction/core';
import { ownValue } from './safe-json.js';

type Row = Record<string, unknown>;

const MAX_PAGE_SIZE = 500;

/** The value at a dotted path, through own properties only. */
function get(row: Row, path: string): unknown {
  let v: unknown = row;
  for (const p of path.split('.')) v = ownValue(v, p);
  return v;
}

/** Sets a dotted path in a row being built; every object on the way has a null prototype. */
function set(row: Row, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = row;
  for (const p of parts.slice(0, -1)) {
    const next = ownValue(o, p);
    o = (next !== null && typeof next === 'object' ? next : (o[p] = newRow())) as Row;
  }
  o[parts[parts.length - 1]!] = value;
}

const newRow = (): Row => Object.create(null) as Row;

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

export function listQuery(rows: Row[], query: URLSearchParams): unknown {
  const total = rows.length;
  let out = rows;
  const name = query.get('name');
  if (name !== null && name !== '') {
    if (query.get('use_regex') === 'true') {
      let re: LinearRegex;
      try {
        re = linearRegex(name, { ignoreCase: true });
      } catch (err) {
        throw badRequest(`name regex '${name}' refused: ${(err as Error).message}`);
      }
      out = out.filter((r) => re.test(String(r['name'] ?? '')));
    } else {
      const needle = name.toLowerCase();
      out = out.filter((r) =>
        String(r['name'] ?? '')
          .toLowerCase()
          .includes(needle),
      );
    }
  }
  const sort = query.get('sort');
  if (sort) {
    const reverse = query.get('sort_reverse') === 'true';
    out = [...out].sort((a, b) => (reverse ? -1 : 1) * compare(get(a, sort), get(b, sort)));
  }
  const columns = query.get('columns');
  if (columns) {
    const cols = columns.split(',').filter((c) => c !== '');
    out = out.map((r) => {
      const kept = newRow();
      for (const c of cols) {
        const v = get(r, c);
        if (v !== undefined) set(kept, c, v);
      }
      return kept;
    });
  }
  const pageParam = query.get('page');
  if (pageParam === null) return out;
  const page = Number(pageParam);
  const pageSize = Number(query.get('page_size') ?? '100');
  if (!Number.isInteger(page) || page < 1) throw badRequest('page must be a positive integer');
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
    throw badRequest(`page_size must be between 1 and ${MAX_PAGE_SIZE}`);
  const pageCount = Math.max(1, Math.ceil(out.length / pageSize));
  if (page > pageCount) throw badRequest(`page ${page} is past the last page (${pageCount})`);
  const items = out.slice((page - 1) * pageSize, page * pageSize);
  return {
    filtered_count: out.length,
    item_count: items.length,
    items,
    page,
    page_count: pageCount,
    page_size: pageSize,
    total_count: total,
  };
}
