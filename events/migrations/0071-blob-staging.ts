import { type Kysely, sql } from 'kysely';

/**
 * Uploads staged in pieces before their hash is known (the Postgres blob store's `stage`): an
 * upload reaches the database a piece at a time, so no process holds it whole, and becomes a
 * `blobs` row in the transaction that names it. Rows left by a crashed upload are swept by age.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table blob_staging (
      staging_id uuid not null,
      piece integer not null check (piece >= 0),
      content bytea not null,
      staged_at timestamptz not null default now(),
      primary key (staging_id, piece)
    )
  `.execute(db);
  // Uploads are often compressed already: as for blobs, do not try to compress them again.
  await sql`alter table blob_staging alter column content set storage external`.execute(db);
  await sql`create index blob_staging_by_age on blob_staging (staged_at)`.execute(db);
  await sql`grant select, insert, delete on blob_staging to omni_service`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table blob_staging`.execute(db);
}
