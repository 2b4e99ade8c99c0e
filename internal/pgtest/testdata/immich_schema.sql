-- An Immich-like schema (post-v1.136 table names) for tests: the tables a
-- backup tool reads (paths, checksums, counts, versions) with Immich's column
-- names, plus the pieces that make restores fail in real life: the cube +
-- earthdistance extensions and a geodata_places index on ll_to_earth (the
-- search_path pitfall, Immich issue #5630), and vector-like smart_search rows
-- (plain real[] here instead of pgvector/vectorchord).
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;

CREATE TABLE "user" (
  id uuid PRIMARY KEY,
  email varchar NOT NULL UNIQUE,
  name varchar NOT NULL DEFAULT '',
  "isAdmin" boolean NOT NULL DEFAULT false,
  "storageLabel" varchar,
  "profileImagePath" varchar NOT NULL DEFAULT '',
  "createdAt" timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE asset (
  id uuid PRIMARY KEY,
  "ownerId" uuid NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
  "libraryId" uuid,
  type varchar NOT NULL,
  "originalPath" varchar NOT NULL,
  "originalFileName" varchar NOT NULL,
  checksum bytea NOT NULL,
  "checksumAlgorithm" varchar NOT NULL DEFAULT 'sha1',
  "encodedVideoPath" varchar DEFAULT '',
  "sidecarPath" varchar,
  "livePhotoVideoId" uuid REFERENCES asset(id) ON DELETE SET NULL,
  visibility varchar NOT NULL DEFAULT 'timeline',
  status varchar NOT NULL DEFAULT 'active',
  "isOffline" boolean NOT NULL DEFAULT false,
  "fileCreatedAt" timestamptz NOT NULL DEFAULT now(),
  "deletedAt" timestamptz
);
CREATE UNIQUE INDEX "UQ_assets_owner_checksum" ON asset ("ownerId", checksum) WHERE ("libraryId" IS NULL);

CREATE TABLE asset_file (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "assetId" uuid NOT NULL REFERENCES asset(id) ON DELETE CASCADE,
  type varchar NOT NULL,
  path varchar NOT NULL
);

CREATE TABLE asset_exif (
  "assetId" uuid PRIMARY KEY REFERENCES asset(id) ON DELETE CASCADE,
  make varchar,
  model varchar,
  latitude double precision,
  longitude double precision,
  city varchar,
  description text NOT NULL DEFAULT ''
);

CREATE TABLE album (
  id uuid PRIMARY KEY,
  "ownerId" uuid NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
  "albumName" varchar NOT NULL DEFAULT 'Untitled Album',
  "albumThumbnailAssetId" uuid REFERENCES asset(id) ON DELETE SET NULL
);

CREATE TABLE album_asset (
  "albumId" uuid NOT NULL REFERENCES album(id) ON DELETE CASCADE,
  "assetId" uuid NOT NULL REFERENCES asset(id) ON DELETE CASCADE,
  PRIMARY KEY ("albumId", "assetId")
);

CREATE TABLE person (
  id uuid PRIMARY KEY,
  "ownerId" uuid NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
  name varchar NOT NULL DEFAULT '',
  "thumbnailPath" varchar NOT NULL DEFAULT ''
);

CREATE TABLE system_metadata (
  key varchar PRIMARY KEY,
  value jsonb NOT NULL
);

CREATE TABLE version_history (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  version varchar NOT NULL
);

CREATE TABLE smart_search (
  "assetId" uuid PRIMARY KEY REFERENCES asset(id) ON DELETE CASCADE,
  embedding real[] NOT NULL
);

CREATE TABLE geodata_places (
  id integer PRIMARY KEY,
  name varchar(200) NOT NULL,
  longitude double precision NOT NULL,
  latitude double precision NOT NULL,
  "countryCode" char(2) NOT NULL,
  "admin1Name" varchar(20)
);
CREATE INDEX "IDX_geodata_gist_earthcoord" ON geodata_places USING gist (ll_to_earth(latitude, longitude));

INSERT INTO geodata_places VALUES
  (2950159, 'Berlin', 13.41053, 52.52437, 'DE', 'Berlin'),
  (2988507, 'Paris', 2.3488, 48.85341, 'FR', 'Île-de-France'),
  (5128581, 'New York City', -74.00597, 40.71427, 'US', 'New York');
