"""``python -m recsys.mine`` for spark-submit, which runs files, not modules.

    spark-submit --master yarn deploy/spark/submit.py --engine spark 's3a://logs/access.log*' --out out/

Every option of ``python -m recsys.mine`` works; the master and the Spark settings come from
spark-submit (``--master``, ``--conf``) unless ``--spark-master``/``--spark-conf`` are given.
"""

from recsys.mine import main

if __name__ == "__main__":
    raise SystemExit(main())
