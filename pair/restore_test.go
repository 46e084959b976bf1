package pair_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bascule/bascule/internal/testenv"
)

// The seeds' regular task, on a running pair: the main's dump restored onto the stopped
// backup. Replication then resumes from the dump: what the main wrote afterwards reaches the
// backup, what the backup had is not lost, and the main's history is not sent again.
func TestRestoreMainDumpOntoBackup(t *testing.T) {
	p := startPair(t, pairOptions{})
	for range 30 {
		talk(t, p.main, "", "Where is my order?", "")
	}
	for range 10 {
		talk(t, p.backup, "", "How can I return an item?", "")
	}
	p.settle(60 * time.Second)
	dumps := t.TempDir()
	bin := testenv.BasculeBinary(t)
	if out, err := exec.Command(bin, "dump", "-data", p.main.DataDir, "-to", dumps).CombinedOutput(); err != nil {
		t.Fatalf("dump of the running main: %v %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dumps, "*.dump.zst"))
	if len(files) != 1 {
		t.Fatalf("dumps: %v", files)
	}
	// The main goes on after the dump; the backup will have to catch up from the dump.
	var after []string
	for range 20 {
		after = append(after, talk(t, p.main, "", "Where is my order?", "")["contextId"])
	}
	p.backup.Stop()
	if out, err := exec.Command(bin, "restore", "-data", p.backup.DataDir, files[0]).CombinedOutput(); err != nil {
		t.Fatalf("restore onto the backup: %v %s", err, out)
	}
	p.backup.Start()
	p.settle(60 * time.Second)
	applied := 0
	for _, s := range replication(status(t, p.backup))["streams"].([]any) {
		applied += int(s.(map[string]any)["applied"].(float64))
	}
	p.main.Stop()
	p.backup.Stop()
	mainIDs := allInteractionIDs(t, openStopped(t, p.main))
	backupIDs := allInteractionIDs(t, openStopped(t, p.backup))
	missing, extra := 0, 0
	for id := range mainIDs {
		if !backupIDs[id] {
			missing++
		}
	}
	for id := range backupIDs {
		if !mainIDs[id] {
			extra++
		}
	}
	t.Logf("after the restore the backup applied %d changes (the 20 dialogs written after the dump: 40); main holds %d interactions, backup %d; missing on the backup %d, only on the backup %d",
		applied, len(mainIDs), len(backupIDs), missing, extra)
	if missing != 0 || extra != 0 || len(mainIDs) != 60 {
		t.Fatalf("the pair is not whole after the restore: %d missing, %d extra, %d on the main (want 60)", missing, extra, len(mainIDs))
	}
	if applied > 100 {
		t.Fatalf("the backup pulled %d changes after the restore: the main's history was sent again", applied)
	}
	ctx := context.Background()
	st := openStopped(t, p.backup)
	for _, c := range after {
		if _, err := st.Dialog(ctx, c); err != nil {
			t.Fatalf("dialog %s written after the dump is missing on the backup: %v", c, err)
		}
	}
}
