package corpus

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// asset is one row of the simulated database; its other tables' rows
// (exif, smart_search, asset_job_status) derive from it.
type asset struct {
	n       uint64 // stable identity, seeds every derived value
	version int    // bumped by an in-place update
}

// DayName returns the file name of day d (1-based) of corpus C.
func DayName(d int) string { return fmt.Sprintf("immich-%03d.sql", d) }

// GenerateC writes days daily dumps dir/immich-001.sql... of a database
// that starts with rows assets. Each following day updates ~0.2 % of the
// rows in place (same position in the dump, changed columns), deletes a few
// (~0.02 %, at least one) and appends ~0.5 % new assets together with their
// exif, smart_search (512-dim embedding) and job-status rows, as Immich
// does for new uploads. The dump imitates pg_dump's plain format: header
// SETs, CREATE TABLE, one COPY ... FROM stdin block per table.
func GenerateC(dir string, days, rows int, seed uint64) (Stats, error) {
	var st Stats
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, fmt.Errorf("create directory: %w", err)
	}
	assets := make([]asset, rows)
	next := uint64(0)
	for i := range assets {
		assets[i] = asset{n: next}
		next++
	}
	for d := 1; d <= days; d++ {
		if d > 1 {
			r := newRand(seed, "Cday", uint64(d))
			for range max(1, rows*2/1000) {
				assets[r.IntN(len(assets))].version++
			}
			for range max(1, rows/5000) {
				i := r.IntN(len(assets))
				assets = append(assets[:i], assets[i+1:]...)
			}
			for range max(1, rows*5/1000) {
				assets = append(assets, asset{n: next})
				next++
			}
		}
		p := filepath.Join(dir, DayName(d))
		n, err := writeDump(p, assets, seed, d)
		if err != nil {
			return st, err
		}
		st.Add(n)
	}
	return st, nil
}

type countWriter struct {
	w *bufio.Writer
	n int64
}

func (c *countWriter) WriteString(s string) {
	n, _ := c.w.WriteString(s) // the error is sticky in bufio and checked at Flush
	c.n += int64(n)
}

func writeDump(path string, assets []asset, seed uint64, day int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("create dump: %w", err)
	}
	w := &countWriter{w: bufio.NewWriterSize(f, 1<<20)}
	w.WriteString(dumpHeader)
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

	w.WriteString("COPY public.asset (id, \"ownerId\", \"deviceAssetId\", \"deviceId\", type, \"originalPath\", \"fileCreatedAt\", \"fileModifiedAt\", \"isFavorite\", duration, checksum, \"isVisible\", \"livePhotoVideoId\", \"updatedAt\", \"createdAt\", \"originalFileName\", \"sidecarPath\", thumbhash, \"encodedVideoPath\", \"localDateTime\", status) FROM stdin;\n")
	for _, a := range assets {
		r := newRand(seed, "Casset", a.n)
		id, owner := uuid(r), uuid(newRand(seed, "Cuser", uint64(r.IntN(len(users)))))
		t := base.Add(time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour))))
		typ, ext := "IMAGE", ".jpg"
		if r.IntN(10) == 0 {
			typ, ext = "VIDEO", ".mp4"
		}
		upd := t.Add(time.Duration(a.version) * 24 * time.Hour)
		fav := "f"
		if (a.version+int(a.n))%7 == 0 {
			fav = "t"
		}
		name := fmt.Sprintf("IMG_%06d%s", a.n, ext)
		w.WriteString(id + "\t" + owner + "\t" + strconv.FormatUint(r.Uint64()%1e9, 10) + "\tWEB\t" + typ +
			"\t/usr/src/app/upload/library/" + owner + "/" + t.Format("2006/2006-01-02") + "/" + name +
			"\t" + ts(t) + "\t" + ts(t) + "\t" + fav + "\t\\N\t\\\\x" + hex(r, 20) + "\tt\t\\N\t" + ts(upd) + "\t" + ts(t) +
			"\t" + name + "\t\\N\t\\\\x" + hex(r, 25) + "\t\t" + ts(t) + "\tactive\n")
	}
	w.WriteString("\\.\n\n\n")

	w.WriteString("COPY public.exif (\"assetId\", make, model, \"exifImageWidth\", \"exifImageHeight\", \"fileSizeInByte\", orientation, \"dateTimeOriginal\", \"modifyDate\", \"lensModel\", \"fNumber\", \"focalLength\", iso, latitude, longitude, city, state, country, description, fps, \"exposureTime\", \"timeZone\", rating) FROM stdin;\n")
	cams := []string{"Apple\tiPhone 14 Pro", "Google\tPixel 8", "SONY\tILCE-7M3", "Canon\tCanon EOS R6", "samsung\tSM-S918B"}
	cities := []string{"Berlin\tBerlin\tGermany", "Lyon\tAuvergne-Rhone-Alpes\tFrance", "Kyoto\tKyoto\tJapan", "Austin\tTexas\tUnited States of America"}
	for _, a := range assets {
		r := newRand(seed, "Cexif", a.n)
		id := uuid(newRand(seed, "Casset", a.n))
		t := base.Add(time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour))))
		desc := ""
		if a.version > 0 {
			desc = "edited " + strconv.Itoa(a.version)
		}
		w.WriteString(id + "\t" + cams[r.IntN(len(cams))] + "\t4032\t3024\t" + strconv.Itoa(1<<20+r.IntN(11<<20)) + "\t1\t" + ts(t) + "\t" + ts(t) +
			"\t\\N\t1.8\t6.86\t" + strconv.Itoa(50+r.IntN(3000)) + "\t" + strconv.FormatFloat(r.Float64()*180-90, 'f', 6, 64) + "\t" +
			strconv.FormatFloat(r.Float64()*360-180, 'f', 6, 64) + "\t" + cities[r.IntN(len(cities))] + "\t" + desc + "\t\\N\t1/120\tEurope/Berlin\t\\N\n")
	}
	w.WriteString("\\.\n\n\n")

	w.WriteString("COPY public.asset_job_status (\"assetId\", \"facesRecognizedAt\", \"metadataExtractedAt\", \"duplicatesDetectedAt\", \"previewAt\", \"thumbnailAt\") FROM stdin;\n")
	for _, a := range assets {
		r := newRand(seed, "Cjob", a.n)
		id := uuid(newRand(seed, "Casset", a.n))
		t := ts(base.Add(time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour)))))
		w.WriteString(id + "\t" + t + "\t" + t + "\t" + t + "\t" + t + "\t" + t + "\n")
	}
	w.WriteString("\\.\n\n\n")

	w.WriteString("COPY public.smart_search (\"assetId\", embedding) FROM stdin;\n")
	buf := make([]byte, 0, 8<<10)
	for _, a := range assets {
		r := newRand(seed, "Cclip", a.n)
		buf = append(buf[:0], uuid(newRand(seed, "Casset", a.n))...)
		buf = append(buf, "\t["...)
		for i := range 512 {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, r.NormFloat64()*0.045, 'g', 7, 32)
		}
		buf = append(buf, "]\n"...)
		w.WriteString(string(buf))
	}
	w.WriteString("\\.\n\n\n")
	w.WriteString(fmt.Sprintf("--\n-- PostgreSQL database dump complete (day %d)\n--\n\n", day))
	if err := w.w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("write dump: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("close dump: %w", err)
	}
	mt := time.Date(2024, 6, 1, 3, 0, 0, 0, time.UTC).AddDate(0, 0, day)
	if err := os.Chtimes(path, mt, mt); err != nil {
		return 0, fmt.Errorf("set dump time: %w", err)
	}
	return w.n, nil
}

func ts(t time.Time) string { return t.Format("2006-01-02 15:04:05.000000-07") }

func hex(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		v := byte(r.Uint32())
		b[2*i], b[2*i+1] = digits[v>>4], digits[v&15]
	}
	return string(b)
}

const dumpHeader = `--
-- PostgreSQL database dump
--

-- Dumped from database version 14.10 (Debian 14.10-1.pgdg120+1)
-- Dumped by pg_dump version 14.10 (Debian 14.10-1.pgdg120+1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

CREATE EXTENSION IF NOT EXISTS cube WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS earthdistance WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS vectors WITH SCHEMA vectors;

SET default_tablespace = '';
SET default_table_access_method = heap;

CREATE TABLE public.asset (
    id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    "ownerId" uuid NOT NULL,
    "deviceAssetId" character varying NOT NULL,
    "deviceId" character varying NOT NULL,
    type character varying NOT NULL,
    "originalPath" character varying NOT NULL,
    "fileCreatedAt" timestamp with time zone NOT NULL,
    "fileModifiedAt" timestamp with time zone NOT NULL,
    "isFavorite" boolean DEFAULT false NOT NULL,
    duration character varying,
    checksum bytea NOT NULL,
    "isVisible" boolean DEFAULT true NOT NULL,
    "livePhotoVideoId" uuid,
    "updatedAt" timestamp with time zone DEFAULT now() NOT NULL,
    "createdAt" timestamp with time zone DEFAULT now() NOT NULL,
    "originalFileName" character varying NOT NULL,
    "sidecarPath" character varying,
    thumbhash bytea,
    "encodedVideoPath" character varying DEFAULT ''::character varying,
    "localDateTime" timestamp with time zone NOT NULL,
    status character varying DEFAULT 'active'::character varying NOT NULL
);

ALTER TABLE public.asset OWNER TO postgres;

CREATE TABLE public.exif (
    "assetId" uuid NOT NULL, make character varying, model character varying,
    "exifImageWidth" integer, "exifImageHeight" integer, "fileSizeInByte" bigint,
    orientation character varying, "dateTimeOriginal" timestamp with time zone,
    "modifyDate" timestamp with time zone, "lensModel" character varying,
    "fNumber" double precision, "focalLength" double precision, iso integer,
    latitude double precision, longitude double precision, city character varying,
    state character varying, country character varying, description text DEFAULT ''::text NOT NULL,
    fps double precision, "exposureTime" character varying, "timeZone" character varying, rating integer
);

CREATE TABLE public.asset_job_status (
    "assetId" uuid NOT NULL, "facesRecognizedAt" timestamp with time zone,
    "metadataExtractedAt" timestamp with time zone, "duplicatesDetectedAt" timestamp with time zone,
    "previewAt" timestamp with time zone, "thumbnailAt" timestamp with time zone
);

CREATE TABLE public.smart_search (
    "assetId" uuid NOT NULL,
    embedding vectors.vector(512) NOT NULL
);

`
