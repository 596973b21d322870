UPDATE t SET b = upper(b) || 'x' WHERE c < 2.0; DELETE FROM t WHERE a = 2; SELECT count(*) FROM t;
