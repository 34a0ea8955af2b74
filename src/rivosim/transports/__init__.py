"""The carriers that sit above ``rivosim.http`` and run its one WSGI app: the server shell (``server``,
``http11``, ``http_head``), in-process mode for client libraries (``inprocess``), the WSGI call both in-process
carriers share (``wsgi``) and the scenario runner's transport (``runner``)."""
