from tsc.cli import main

raise SystemExit(main())
