package bascule

import "time"

// Scan verdicts an upload is stored with.
const (
	ScanClean = "clean" // the antivirus found nothing
	// ScanSkipped marks a file stored without a scan: the antivirus could not be reached and
	// antivirus.fail_open let the file through. Operators find such files by it.
	ScanSkipped = "unscanned"
)

// Upload is a file a visitor sent in a dialog. It is scanned by the antivirus before it is
// stored, and it is dialog data: it replicates to the peer with the dialog and is erased with
// it (GDPR).
type Upload struct {
	ID          string    `json:"id"` // see NewOrderedID
	DialogID    string    `json:"dialogId"`
	BotID       string    `json:"botId"`
	Name        string    `json:"name"`        // the file's name as the visitor's browser gave it, cleaned
	ContentType string    `json:"contentType"` // as the browser declared it; not trusted
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"` // hex, of the content
	Scan        string    `json:"scan"`   // ScanClean or ScanSkipped
	At          time.Time `json:"at"`
	Server      string    `json:"server"` // id of the server that received it
	// Data is the content; listings (Uploads) leave it empty.
	Data []byte `json:"data,omitempty"`
}
