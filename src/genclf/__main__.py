from genclf.cli import main

raise SystemExit(main())
