/* leveldb_kv: the study's LevelDB client. Every write is synchronous
 * (WriteOptions.sync), as the ATC'20 study ran LevelDB.
 *   leveldb_kv DIR put KEY VALUE   put, then read KEY back in the same process
 *   leveldb_kv DIR get KEY
 * Output: "op: ok" or "op: error MSG", then "get: VALUE", "get: notfound"
 * or "get: error MSG". */
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void get(leveldb_t *db, const char *key) {
	char *err = NULL;
	size_t n = 0;
	leveldb_readoptions_t *ro = leveldb_readoptions_create();
	leveldb_readoptions_set_verify_checksums(ro, 1);
	char *v = leveldb_get(db, ro, key, strlen(key), &n, &err);
	if (err) { printf("get: error %s\n", err); return; }
	if (!v) { printf("get: notfound\n"); return; }
	printf("get: %.*s\n", (int)n, v);
	leveldb_free(v);
}

int main(int argc, char **argv) {
	if (argc < 4) { fprintf(stderr, "usage: leveldb_kv DIR put|get KEY [VALUE]\n"); return 2; }
	char *err = NULL;
	leveldb_options_t *o = leveldb_options_create();
	leveldb_options_set_create_if_missing(o, 1);
	leveldb_options_set_paranoid_checks(o, 1);
	leveldb_t *db = leveldb_open(o, argv[1], &err);
	if (err) { printf("open: error %s\n", err); printf("get: error %s\n", err); return 0; }
	if (strcmp(argv[2], "put") == 0 && argc == 5) {
		leveldb_writeoptions_t *wo = leveldb_writeoptions_create();
		leveldb_writeoptions_set_sync(wo, 1);
		leveldb_put(db, wo, argv[3], strlen(argv[3]), argv[4], strlen(argv[4]), &err);
		if (err) { printf("op: error %s\n", err); leveldb_free(err); err = NULL; }
		else printf("op: ok\n");
	}
	get(db, argv[3]);
	leveldb_close(db);
	return 0;
}
