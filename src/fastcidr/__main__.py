from fastcidr.cli import main

raise SystemExit(main())
