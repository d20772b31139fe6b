"""Photos and documents on a complaint: judged by their bytes, scanned, kept in an object
store, listed in the complaint's history."""
