package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/immich-vault/immich-vault/immich"
	"github.com/immich-vault/immich-vault/restorer"
)

// selectFlags are the selective-restore flags of `immich restore`.
type selectFlags struct {
	albums, persons, users []string
	after, before          string
	toImmich               string
}

func (s *selectFlags) flags(f *pflag.FlagSet) {
	f.StringArrayVar(&s.albums, "album", nil, "restore only the assets of the album `NAME` (repeatable; case-insensitive)")
	f.StringArrayVar(&s.persons, "person", nil, "restore only the assets showing the person `NAME` (repeatable)")
	f.StringArrayVar(&s.users, "user", nil, "restore only the assets of the user `EMAIL` (repeatable)")
	f.StringVar(&s.after, "taken-after", "", "restore only assets taken on or after `DATE` (YYYY-MM-DD or RFC 3339)")
	f.StringVar(&s.before, "taken-before", "", "restore only assets taken before `DATE` (YYYY-MM-DD or RFC 3339)")
	f.StringVar(&s.toImmich, "to-immich", "", "upload the chosen assets into the running Immich at `URL` (API key from env IMMICH_API_KEY; the assets become the key's user's) instead of a folder")
}

func (s *selectFlags) chosen() bool {
	return len(s.albums)+len(s.persons)+len(s.users) > 0 || s.after != "" || s.before != ""
}

// parseDate reads YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
func parseDate(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: give a date as YYYY-MM-DD or an RFC 3339 time (2024-06-01T12:00:00Z)", flag, v)
}

func (s *selectFlags) selection() (immich.Selection, error) {
	sel := immich.Selection{Albums: s.albums, Persons: s.persons, Users: s.users}
	var err error
	if sel.After, err = parseDate("taken-after", s.after); err != nil {
		return sel, err
	}
	if sel.Before, err = parseDate("taken-before", s.before); err != nil {
		return sel, err
	}
	if !sel.After.IsZero() && !sel.Before.IsZero() && !sel.After.Before(sel.Before) {
		return sel, fmt.Errorf("--taken-after %s is not before --taken-before %s: nothing can match", s.after, s.before)
	}
	return sel, nil
}

type selectiveJSON struct {
	SnapshotID string `json:"snapshot_id"`
	Target     string `json:"target"`
	Chosen     int    `json:"chosen_assets"`
	*immich.FolderRestoreResult
}

// runSelectiveRestore restores the assets a selection chooses into a
// folder.
func runSelectiveRestore(cmd *cobra.Command, ref, target string, sf selectFlags) error {
	sel, err := sf.selection()
	if err != nil {
		return err
	}
	var api *immich.APIClient
	switch {
	case sf.toImmich != "" && target != "":
		return errors.New("--to-immich and --target exclude each other: restore into a folder or into Immich")
	case sf.toImmich != "":
		key := os.Getenv("IMMICH_API_KEY")
		if key == "" {
			return errors.New("--to-immich needs an API key in env IMMICH_API_KEY (Immich: Account Settings > API Keys, with the asset.upload, album.create, album.read and albumAsset.create permissions)")
		}
		api = &immich.APIClient{BaseURL: sf.toImmich, APIKey: key}
	case target == "":
		return errors.New("a selective restore needs --target DIR (the folder to write the chosen originals into) or --to-immich URL")
	default:
		if target, err = filepath.Abs(target); err != nil {
			return err
		}
	}
	ctx := cmd.Context()
	r, err := openRepo(ctx)
	if err != nil {
		return err
	}
	defer r.Close()
	sn, err := findImmichSnapshot(cmd, r, ref)
	if err != nil {
		return err
	}
	ctx, release, err := r.HoldForRead(ctx, "immich restore")
	if err != nil {
		return err
	}
	defer release()
	// The index is built in a private temporary directory and removed:
	// it holds file names and paths of the library, in the clear.
	tmp, err := os.MkdirTemp("", "immich-vault-gallery-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cache := immich.NewGalleryCache(tmp, 1)
	defer cache.Close()
	g, cfg, err := immich.SnapshotGallery(ctx, r, sn, cache)
	if err != nil {
		return err
	}
	ords, err := g.Select(sel)
	if err != nil {
		if errors.Is(err, immich.ErrNoMatch) {
			return fmt.Errorf("%w\nNothing was restored. Check the spelling (names are matched whole, case-insensitive); `immich-vault serve` shows the snapshot's albums and people.", err)
		}
		return err
	}
	chosen := len(ords)
	ords = g.Expand(ords)
	if len(ords) == 0 {
		return fmt.Errorf("the selection matches no asset of snapshot %s: nothing was restored", sn.ID().Short())
	}
	if api != nil {
		return restoreIntoImmich(ctx, g, ords, cfg, immich.NewSnapshotFiles(r, sn), api, sn.ID().String(), chosen, tmp)
	}
	if !gopts.json {
		gopts.printf("restoring %d assets (%d chosen, with live-photo videos and stack members) from snapshot %s into %s\n", len(ords), chosen, sn.ID().Short(), target)
	}
	res, rerr := immich.RestoreToFolder(ctx, g, ords, cfg, immich.NewSnapshotFiles(r, sn), target)
	if res != nil {
		if gopts.json {
			if err := gopts.printJSON(selectiveJSON{SnapshotID: sn.ID().String(), Target: target, Chosen: chosen, FolderRestoreResult: res}); err != nil {
				return err
			}
		} else {
			gopts.printf("restored %d assets: %d files written (%d bytes), %d already present\n", res.Assets, res.Files, res.Bytes, res.Present)
		}
		for _, p := range res.Problems {
			gopts.warnf("not restored: %s", p)
		}
	}
	if restorer.TargetStop(rerr) != nil {
		// Not main's advice for a full restore: a selective restore has no
		// --overwrite, and keeps what is already there by itself.
		what := "Free space on that disk"
		if errors.Is(rerr, restorer.ErrTargetReadOnly) {
			what = "Remount that file system read-write (or choose another --target)"
		}
		return &exitError{code: exitFailure, err: fmt.Errorf("%w\nThe restore stopped there: the files written before it are whole (each is written aside and renamed when complete). %s, then run the same command again: the files already there are kept.", rerr, what)}
	}
	if errors.Is(rerr, immich.ErrIncomplete) {
		return fmt.Errorf("%w\nThe other files were restored. Run `immich-vault immich verify --snapshot %s` to see what the snapshot lacks.", rerr, sn.ID().Short())
	}
	if rerr != nil {
		return fmt.Errorf("selective restore: %w", rerr)
	}
	return nil
}

type immichUploadJSON struct {
	SnapshotID string `json:"snapshot_id"`
	Immich     string `json:"immich"`
	Chosen     int    `json:"chosen_assets"`
	*immich.APIRestoreResult
}

// restoreIntoImmich uploads the chosen assets into a running Immich.
func restoreIntoImmich(ctx context.Context, g *immich.Gallery, ords []int32, cfg *immich.Config, src immich.FileSource, api *immich.APIClient, snap string, chosen int, tmp string) error {
	if !gopts.json {
		gopts.printf("uploading %d assets (%d chosen, with live-photo videos and stack members) from snapshot %s into %s\n", len(ords), chosen, snap[:8], api.BaseURL)
	}
	res, err := immich.RestoreToImmich(ctx, g, ords, cfg, src, api, tmp)
	if res != nil {
		if gopts.json {
			if jerr := gopts.printJSON(immichUploadJSON{SnapshotID: snap, Immich: api.BaseURL, Chosen: chosen, APIRestoreResult: res}); jerr != nil {
				return jerr
			}
		} else {
			gopts.printf("uploaded %d assets, %d already in Immich; albums recreated or completed: %s\n", res.Uploaded, res.Present, strings.Join(res.Albums, ", "))
		}
		for _, p := range res.Problems {
			gopts.warnf("not restored: %s", p)
		}
	}
	switch {
	case errors.Is(err, immich.ErrAPIAuth):
		return fmt.Errorf("%w\nCheck IMMICH_API_KEY: create a key in Immich (Account Settings > API Keys) with the asset.upload, album.create, album.read and albumAsset.create permissions.", err)
	case errors.Is(err, immich.ErrIncomplete):
		return fmt.Errorf("%w\nThe other assets were restored; running the same command again uploads only what is missing.", err)
	case err != nil:
		return fmt.Errorf("restore into Immich: %w", err)
	}
	return nil
}
