package chatapi

// SecondDecode is the text the dydu chatbox shows for a string value, for the tests inside
// and outside the package.
func SecondDecode(s string) string {
	d, _ := chatboxSecondDecode(s)
	return d
}
