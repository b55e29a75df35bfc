import { type Kysely, sql } from 'kysely';

/**
 * Uploaded files and job artifacts. Mutable tables on purpose, like secrets: a file can be deleted,
 * while the log keeps what was stored (name, size, SHA-256) for good, so history stays true.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Content-addressed bytes of the default (Postgres) blob store: the same bytes a tenant stores
  // twice are kept once. Scoped by tenant so one tenant's upload never proves another's exists.
  await sql`
    create table blobs (
      tenant text not null,
      sha256 bytea not null check (octet_length(sha256) = 32),
      size bigint not null check (size >= 0),
      content bytea not null,
      created_at timestamptz not null default now(),
      primary key (tenant, sha256)
    )
  `.execute(db);
  // Large values are compressed badly or not at all (uploads are often already compressed);
  // storing them out of line uncompressed saves the CPU of a futile attempt.
  await sql`alter table blobs alter column content set storage external`.execute(db);

  await sql`
    create table files (
      id text primary key,
      tenant text not null,
      name text not null,
      content_type text not null,
      size bigint not null,
      sha256 bytea not null,
      -- 'upload' (POST /v1/files) or 'artifact' (collected from a job's declared outputs).
      kind text not null check (kind in ('upload', 'artifact')),
      job_id uuid,
      attempt integer,
      created_by text,
      created_at timestamptz not null default now()
    )
  `.execute(db);
  await sql`create index files_tenant_created on files (tenant, created_at desc, id)`.execute(db);
  // Whether a blob is still referenced, checked on every delete.
  await sql`create index files_tenant_sha256 on files (tenant, sha256)`.execute(db);
  await sql`create index files_job on files (job_id) where job_id is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table files`.execute(db);
  await sql`drop table blobs`.execute(db);
}
