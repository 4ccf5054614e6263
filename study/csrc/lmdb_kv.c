/* lmdb_kv: the study's LMDB client (default flags: commits write the data
 * pages and the meta page and fdatasync data.mdb).
 *   lmdb_kv DIR put KEY VALUE   put, then read KEY back in the same process
 *   lmdb_kv DIR get KEY */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

static void get(MDB_env *env, const char *key) {
	MDB_txn *txn; MDB_dbi dbi; MDB_val k, v;
	int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc) { printf("get: error %s\n", mdb_strerror(rc)); return; }
	rc = mdb_dbi_open(txn, NULL, 0, &dbi);
	if (rc) { printf("get: error %s\n", mdb_strerror(rc)); mdb_txn_abort(txn); return; }
	k.mv_size = strlen(key); k.mv_data = (void *)key;
	rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND) printf("get: notfound\n");
	else if (rc) printf("get: error %s\n", mdb_strerror(rc));
	else printf("get: %.*s\n", (int)v.mv_size, (char *)v.mv_data);
	mdb_txn_abort(txn);
}

int main(int argc, char **argv) {
	if (argc < 4) { fprintf(stderr, "usage: lmdb_kv DIR put|get KEY [VALUE]\n"); return 2; }
	MDB_env *env;
	int rc = mdb_env_create(&env);
	if (!rc) rc = mdb_env_set_mapsize(env, 1 << 24);
	if (!rc) rc = mdb_env_open(env, argv[1], 0, 0644);
	if (rc) { printf("open: error %s\nget: error %s\n", mdb_strerror(rc), mdb_strerror(rc)); return 0; }
	if (strcmp(argv[2], "put") == 0 && argc == 5) {
		MDB_txn *txn; MDB_dbi dbi; MDB_val k, v;
		rc = mdb_txn_begin(env, NULL, 0, &txn);
		if (!rc) rc = mdb_dbi_open(txn, NULL, 0, &dbi);
		k.mv_size = strlen(argv[3]); k.mv_data = argv[3];
		v.mv_size = strlen(argv[4]); v.mv_data = argv[4];
		if (!rc) rc = mdb_put(txn, dbi, &k, &v, 0);
		if (!rc) rc = mdb_txn_commit(txn);
		if (rc) printf("op: error %s\n", mdb_strerror(rc));
		else printf("op: ok\n");
	}
	get(env, argv[3]);
	mdb_env_close(env);
	return 0;
}
