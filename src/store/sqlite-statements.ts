/** Prepared statements of one better-sqlite3 connection, each prepared once, when first used. */
import type Database from 'better-sqlite3';

export type PrepareStatement = (sql: string) => Database.Statement<unknown[]>;

/**
 * A `prepare` that keeps every statement it made: prepared lazily (a store kept at an older schema
 * lacks some tables), shared by the parts of a store that use the same connection.
 */
export function cachedStatements(db: Database.Database): PrepareStatement {
  const statements = new Map<string, Database.Statement<unknown[]>>();
  return (sql) => {
    let statement = statements.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
}
