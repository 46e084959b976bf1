// Package engine is the bot itself: it normalises a visitor's question, matches it against a
// bot's knowledge (BM25 ranking over every formulation, with matching groups as synonyms) and
// decides whether the bot understood, should offer rewordings, or did not understand.
//
// An Index is built once per version of a bot's knowledge and is then read by every dialog
// concurrently; nothing in the matcher touches storage or HTTP.
package engine
