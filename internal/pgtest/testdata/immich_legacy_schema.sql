-- A pre-v1.136 Immich-like schema: plural table names (assets, users,
-- albums, exif, asset_files) and legacy relative paths ("upload/...",
-- relative to /usr/src/app) as old installs stored them.
CREATE TABLE users (
  id uuid PRIMARY KEY,
  email varchar NOT NULL UNIQUE,
  "storageLabel" varchar,
  "profileImagePath" varchar NOT NULL DEFAULT ''
);
CREATE TABLE assets (
  id uuid PRIMARY KEY,
  "ownerId" uuid NOT NULL REFERENCES users(id),
  "libraryId" uuid,
  type varchar NOT NULL,
  "originalPath" varchar NOT NULL,
  checksum bytea NOT NULL,
  "encodedVideoPath" varchar DEFAULT '',
  "sidecarPath" varchar,
  "previewPath" varchar,
  "thumbnailPath" varchar
);
CREATE TABLE asset_files (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "assetId" uuid NOT NULL REFERENCES assets(id),
  type varchar NOT NULL,
  path varchar NOT NULL
);
CREATE TABLE albums (id uuid PRIMARY KEY, "ownerId" uuid NOT NULL REFERENCES users(id));
CREATE TABLE person (id uuid PRIMARY KEY, "ownerId" uuid NOT NULL, "thumbnailPath" varchar NOT NULL DEFAULT '');
CREATE TABLE exif ("assetId" uuid PRIMARY KEY REFERENCES assets(id), description text);
