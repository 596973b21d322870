CREATE INDEX i ON t(b); PRAGMA integrity_check; SELECT json_object('a', a, 'b', b) FROM t;
