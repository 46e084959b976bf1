package testenv

import (
	"crypto/md5"
	"encoding/hex"
	"testing"
)

// The EICAR file is assembled from parts: check it is the real one, whose md5 every
// antivirus vendor publishes.
func TestEICAR(t *testing.T) {
	e := EICAR()
	sum := md5.Sum(e)
	if len(e) != 68 || hex.EncodeToString(sum[:]) != "44d88612fea8a8f36de82e1278abb02f" {
		t.Errorf("EICAR() is %d bytes, md5 %x", len(e), sum)
	}
}
