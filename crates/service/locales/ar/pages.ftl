# صفحات الويب بالعربية. المعرّفات نفسها في en/pages.ftl (يتحقق من ذلك اختبار).
app-name = النسخ الاحتياطي للمؤسسة
skip-to-content = انتقل إلى المحتوى
nav-label = الرئيسية
nav-dashboard = لوحة التحكم
nav-backups = النسخ الاحتياطية
nav-audit = سجل التدقيق
org-switch-label = المؤسسة
org-switch-submit = تبديل
org-current = المؤسسة:
sign-out = تسجيل الخروج

login-title = تسجيل الدخول
login-failed = البريد الإلكتروني أو كلمة المرور غير صحيحة.
login-email = البريد الإلكتروني
login-password = كلمة المرور
login-submit = تسجيل الدخول

error-title = حدث خطأ ما
error-back = العودة إلى لوحة التحكم
error-csrf = انتهت صلاحية هذا النموذج. ارجع وأعد تحميل الصفحة ثم حاول مرة أخرى.
error-no-organization = حسابك ليس عضوًا في أي مؤسسة بعد. اطلب من أحد المالكين إضافتك.

col-name = الاسم
col-status = الحالة
col-size = الحجم
col-rows = الصفوف
col-created = تاريخ الإنشاء
col-table = الجدول

status-pending = في الانتظار
status-running = قيد التنفيذ
status-completed = مكتملة
status-failed = فشلت
status-expired = منتهية الصلاحية
status-deleted = محذوفة
type-manual = يدوية
type-scheduled = مجدولة
type-uploaded = مرفوعة
plan-free = المجانية
plan-basic = الأساسية
plan-pro = الاحترافية
plan-enterprise = المؤسسات
plan-name = الخطة: { $plan }

month-1 = يناير
month-2 = فبراير
month-3 = مارس
month-4 = أبريل
month-5 = مايو
month-6 = يونيو
month-7 = يوليو
month-8 = أغسطس
month-9 = سبتمبر
month-10 = أكتوبر
month-11 = نوفمبر
month-12 = ديسمبر

bytes-b = { $n } بايت
bytes-kb = { $n } كيلوبايت
bytes-mb = { $n } ميغابايت
bytes-gb = { $n } غيغابايت
bytes-tb = { $n } تيرابايت

dashboard-title = لوحة التحكم
storage-title = مساحة النسخ الاحتياطية
storage-used = المستخدم
next-run-title = النسخة المجدولة التالية
no-schedule = لا توجد نسخة احتياطية مجدولة.
failures-title = حالات الفشل الأخيرة
no-failures = لم تفشل أي نسخة احتياطية خلال آخر ٣٠ يومًا.
recent-title = أحدث النسخ الاحتياطية
no-backups = لا توجد نسخ احتياطية بعد.
new-backup = نسخة احتياطية جديدة
all-backups = كل النسخ الاحتياطية

backups-title = النسخ الاحتياطية
backups-count = { $count ->
    [zero] لا توجد نسخ احتياطية
    [one] نسخة احتياطية واحدة
    [two] نسختان احتياطيتان
    [few] { $n } نسخ احتياطية
    [many] { $n } نسخة احتياطية
   *[other] { $n } نسخة احتياطية
}
create-title = نسخة احتياطية جديدة
create-name = الاسم (اختياري)
create-categories = الفئات
create-categories-hint = اترك كل المربعات فارغة لنسخ المؤسسة كاملة. تُضمَّن الجداول التي تعتمد عليها الفئات الأخرى.
tables-count = { $count ->
    [zero] لا جداول
    [one] جدول واحد
    [two] جدولان
    [few] { $n } جداول
    [many] { $n } جدولًا
   *[other] { $n } جدول
}
rows-estimate = { $count ->
    [zero] لا صفوف تقريبًا
    [one] صف واحد تقريبًا
    [two] صفان تقريبًا
    [few] { $n } صفوف تقريبًا
    [many] { $n } صفًا تقريبًا
   *[other] { $n } صف تقريبًا
}
rows-count = { $count ->
    [zero] لا صفوف
    [one] صف واحد
    [two] صفان
    [few] { $n } صفوف
    [many] { $n } صفًا
   *[other] { $n } صف
}
create-encrypt = تشفير (AES-256-GCM)
encryption-unavailable = يحتاج التشفير إلى مفتاح رئيسي لم يُزوَّد به هذا النظام.
create-submit = بدء النسخ الاحتياطي

progress-title = التقدم
progress-waiting = في انتظار عامل…
progress-table = الجدول
field-status = الحالة
field-type = النوع
field-created = تاريخ الإنشاء
field-completed = تاريخ الاكتمال
field-scope = المحتوى
scope-whole = المؤسسة كاملة
field-size = الحجم
field-rows = الصفوف
field-encrypted = مشفرة
yes = نعم
no = لا
field-sha256 = SHA-256
field-error = الخطأ
download = تنزيل
tables-title = الجداول

nav-restore = الاستعادة
restore-title = الاستعادة
restore-steps = خطوات الاستعادة
step-choose = اختيار نسخة احتياطية
step-analyze = التوافق
step-plan = الخطة والتعارضات
step-confirm = التأكيد
step-result = الاستعادة
restore-choose-hint = اختر النسخة الاحتياطية المراد استعادتها. لن يتغير شيء قبل أن تؤكد.
restore-choose = استعادة هذه النسخة
col-category = الفئة
compat-compatible = متوافقة مع المخطط الحالي
compat-warnings = متوافقة مع تحذيرات
compat-incompatible = غير متوافقة
restore-options = ما الذي تريد استعادته
restore-categories-hint = اترك كل المربعات فارغة لاستعادة كل فئات النسخة الاحتياطية.
restore-mode = الوضع
mode-merge = دمج: إضافة ما ينقص وحل التعارضات دون حذف أي شيء
mode-full = كاملة: جعل بيانات المؤسسة مطابقة تمامًا للنسخة الاحتياطية (تحذف الصفوف غير الموجودة فيها)
restore-conflicts = عندما يوجد صف بقيم مختلفة
action-default = كما اخترت للجميع
action-skip = الإبقاء على الصف الحالي
action-replace = استبداله بصف النسخة الاحتياطية
action-merge = دمج: الإبقاء على القيم الحالية وملء الفارغ منها من النسخة الاحتياطية
restore-show-plan = عرض الخطة
col-insert = مضافة
col-identical = مطابقة أصلًا
col-conflict = تعارضات
col-delete = محذوفة
col-not-written = لن تُكتب
plan-blocked-title = لا يمكن تنفيذ هذه الاستعادة الكاملة
plan-blocked-hint = ستحذف صفوفًا لا تزال صفوف أخرى لا تستعيدها تشير إليها: ستحذف قاعدة البيانات تلك الصفوف أيضًا أو تغيّرها أو ترفض. لم يتغير شيء. استعد فئات الجداول المُشيرة أيضًا، أو اختر الاستعادة بالدمج.
plan-blocked-rows = { $count ->
    [zero] لا صفوف مُشيرة
    [one] صف مُشير واحد
    [two] صفان مُشيران
    [few] { $n } صفوف مُشيرة
    [many] { $n } صفًا مُشيرًا
   *[other] { $n } صف مُشير
}
plan-skipped-triggers = مشغّلات لن تعمل، لتُكتب قيم النسخة الاحتياطية كما هي:
bulk-hint = ينطبق هذا الاختيار على كل التعارضات؛ ويمكنك تغيير صفوف بعينها أدناه.
conflicts-count = { $count ->
    [zero] لا تعارضات معروضة
    [one] تعارض واحد معروض
    [two] تعارضان معروضان
    [few] { $n } تعارضات معروضة
    [many] { $n } تعارضًا معروضًا
   *[other] { $n } تعارض معروض
}
col-column = العمود
col-backup-value = في النسخة الاحتياطية
col-current-value = الآن
decision = القرار لهذا الصف
restore-review = المراجعة والتأكيد
summary-title = ما الذي سيتغير
summary-insert = { $count ->
    [zero] لن يُضاف أي صف
    [one] سيُضاف صف واحد
    [two] سيُضاف صفان
    [few] ستُضاف { $n } صفوف
    [many] سيُضاف { $n } صفًا
   *[other] سيُضاف { $n } صف
}
summary-replace = { $count ->
    [zero] لن يُستبدل أي صف
    [one] سيُستبدل صف واحد
    [two] سيُستبدل صفان
    [few] ستُستبدل { $n } صفوف
    [many] سيُستبدل { $n } صفًا
   *[other] سيُستبدل { $n } صف
}
summary-merge = { $count ->
    [zero] لن يُدمج أي صف
    [one] سيُدمج صف واحد
    [two] سيُدمج صفان
    [few] ستُدمج { $n } صفوف
    [many] سيُدمج { $n } صفًا
   *[other] سيُدمج { $n } صف
}
summary-skip = { $count ->
    [zero] لا صفوف متعارضة ستبقى كما هي
    [one] سيبقى صف متعارض واحد كما هو
    [two] سيبقى صفان متعارضان كما هما
    [few] ستبقى { $n } صفوف متعارضة كما هي
    [many] سيبقى { $n } صفًا متعارضًا كما هو
   *[other] سيبقى { $n } صف متعارض كما هو
}
summary-delete = { $count ->
    [zero] لن يُحذف أي صف
    [one] سيُحذف صف واحد
    [two] سيُحذف صفان
    [few] ستُحذف { $n } صفوف
    [many] سيُحذف { $n } صفًا
   *[other] سيُحذف { $n } صف
}
summary-rollback = تجري الاستعادة في معاملة واحدة: تُطبَّق كاملة أو لا تُطبَّق إطلاقًا. ويمكن التراجع عنها خلال ٢٤ ساعة.
full-warning-title = استعادة كاملة
full-warning = تستبدل الاستعادة الكاملة بيانات المؤسسة ببيانات النسخة الاحتياطية، وتُحذف الصفوف غير الموجودة فيها.
full-confirm-failed = اسم المؤسسة أو كلمة المرور غير صحيح. لم يتغير شيء.
full-type-name = اكتب اسم المؤسسة ({ $name }) للتأكيد
full-password = كلمة المرور
restore-start = بدء الاستعادة
restore-status-pending = في الانتظار
restore-status-analyzing = قيد التحليل
restore-status-awaiting_confirmation = بانتظار التأكيد
restore-status-running = قيد التنفيذ
restore-status-completed = مكتملة
restore-status-failed = فشلت
restore-status-rolled_back = تم التراجع عنها
rollback-until = يمكنك التراجع عن هذه الاستعادة حتى { $date }.
rollback = التراجع

audit-title = سجل التدقيق
audit-action = الإجراء
audit-outcome = النتيجة
audit-any = الكل
audit-filter = تصفية
audit-empty = لا يوجد ما يطابق.
audit-when = الوقت
audit-who = المنفِّذ
audit-subject = العنصر
audit-ip = عنوان IP
audit-pages = الصفحات
outcome-success = تم
outcome-failure = فشل
outcome-denied = مرفوض
page-previous = السابق
page-next = التالي
page-number = الصفحة { $n }

nav-notifications = الإشعارات
notifications-title = الإشعارات
notifications-empty = لا توجد إشعارات بعد.
unread-count = { $count ->
    [zero] لا يوجد غير مقروء
    [one] إشعار واحد غير مقروء
    [two] إشعاران غير مقروءين
    [few] { $n } إشعارات غير مقروءة
    [many] { $n } إشعارًا غير مقروء
   *[other] { $n } إشعار غير مقروء
}
mark-read = تعليم كمقروء
event-backup_completed = اكتمال نسخة احتياطية
event-backup_failed = فشل نسخة احتياطية
event-restore_started = بدء استعادة
event-restore_completed = اكتمال استعادة
event-restore_failed = فشل استعادة
event-restore_rolled_back = التراجع عن استعادة
event-backup_expiring = قرب انتهاء صلاحية نسخة احتياطية
event-storage_quota_warning = اقتراب امتلاء مساحة النسخ الاحتياطية
event-storage_connection_expired = اتصال التخزين يحتاج إلى إعادة ربط
notification-settings-title = إعدادات الإشعارات
settings-saved = تم الحفظ.
webhook-secret-once = سر التوقيع الخاص بالويب هوك. انسخه الآن: لن يُعرض مرة أخرى.
settings-events = أعلمني بـ
settings-channels = الطريقة
channel-in-app = داخل التطبيق
channel-email = مستلمو البريد الإلكتروني (واحد في كل سطر)
channel-webhook = عنوان الويب هوك (موقّع بـ HMAC-SHA256)
webhook-new-secret = إنشاء سر توقيع جديد
settings-language = لغة رسائل البريد والويب هوك
settings-notice-days = عدد أيام الإشعار قبل انتهاء صلاحية نسخة احتياطية
settings-save = حفظ
settings-read-only = يتطلب تغيير هذه الإعدادات صلاحية backup.schedule.

nav-keys = مفاتيح التشفير
keys-title = مفاتيح التشفير
keys-hint = تُختم النسخ الاحتياطية المشفرة بالمفتاح النشط للمؤسسة. يجعل التدوير مفتاحًا جديدًا نشطًا، وتبقى المفاتيح الأقدم قادرة على فتح النسخ التي ختمتها.
keys-none = ليس لهذه المؤسسة مفتاح خاص: تستخدم النسخ المشفرة المفتاح الرئيسي للخدمة.
keys-plan = المفاتيح الخاصة جزء من خطة المؤسسات.
key-version = الإصدار
key-fingerprint = البصمة
key-backups = النسخ المختومة
key-status-active = نشط
key-status-retired = متقاعد
key-status-revoked = ملغى (أُتلف)
key-name = اسم المفتاح الجديد
key-create = إنشاء مفتاح
key-rotate = التدوير: جعل مفتاح جديد نشطًا
key-revoke = إلغاء وإتلاف
key-revoke-warning = { $count ->
    [zero] لا توجد نسخ مختومة بهذا المفتاح. لا يمكن التراجع عن ذلك.
    [one] لن تُفتح بعد الآن نسخة احتياطية واحدة مختومة بهذا المفتاح. لا يمكن التراجع عن ذلك.
    [two] لن تُفتح بعد الآن نسختان احتياطيتان مختومتان بهذا المفتاح. لا يمكن التراجع عن ذلك.
    [few] لن تُفتح بعد الآن { $n } نسخ احتياطية مختومة بهذا المفتاح. لا يمكن التراجع عن ذلك.
    [many] لن تُفتح بعد الآن { $n } نسخة احتياطية مختومة بهذا المفتاح. لا يمكن التراجع عن ذلك.
   *[other] لن تُفتح بعد الآن { $n } نسخة احتياطية مختومة بهذا المفتاح. لا يمكن التراجع عن ذلك.
}
key-revoke-type = اكتب بصمة المفتاح للتأكيد
key-revoke-unconfirmed = البصمة المكتوبة غير مطابقة: لم يُلغَ المفتاح.

upload-title = أو الاستعادة من ملف
upload-hint = ملف نسخة احتياطية نُزِّل من هذه الخدمة. يُفحص بالكامل (كل المجاميع الاختبارية، وأنه نسخة احتياطية لهذه المؤسسة) قبل أي شيء آخر.
upload-sha256 = قيمة SHA-256 الخاصة به (اختيارية، وتُفحص عند إدخالها)
upload-file = ملف النسخة الاحتياطية
upload-submit = رفع وتحليل

nav-schedules = الجدولة
schedules-title = النسخ الاحتياطية المجدولة
schedules-none = لا توجد نسخة احتياطية مجدولة.
schedules-plan = لا تتضمن خطتك نسخًا احتياطية مجدولة. الخطة الأساسية تنسخ يوميًا، والخطتان الاحترافية والمؤسسات بأي جدول.
schedule-when = الموعد
schedule-next = التشغيلات التالية
schedule-last = آخر تشغيل
schedule-actions = الإجراءات
schedule-paused = متوقفة مؤقتًا
schedule-pause = إيقاف مؤقت
schedule-resume = استئناف
schedule-delete = حذف
schedule-new = جدول جديد
schedule-frequency = التكرار
schedule-time = الوقت من اليوم
schedule-weekday = يوم الأسبوع (أسبوعيًا)
schedule-day-of-month = يوم الشهر (شهريًا؛ ما بعد نهاية الشهر يعني آخر يوم فيه)
schedule-zone = المنطقة الزمنية
schedule-cron = تعبير cron (خمسة حقول)
schedule-add = إضافة الجدول
frequency-hourly = كل ساعة
frequency-daily = كل يوم
frequency-weekly = كل أسبوع
frequency-monthly = كل شهر
frequency-custom = مخصص (cron)
every-hour = كل ساعة عند الدقيقة { $minute }
every-day = عند { $time }
day-of-month = في اليوم { $n } من الشهر
weekday-0 = الأحد
weekday-1 = الاثنين
weekday-2 = الثلاثاء
weekday-3 = الأربعاء
weekday-4 = الخميس
weekday-5 = الجمعة
weekday-6 = السبت

create-destination = مكان حفظها
destination-default = الوجهة الافتراضية للمؤسسة
destination-local = قرص هذا الخادم

nav-storage = التخزين
destinations-title = أماكن حفظ النسخ الاحتياطية
storage-provider = الخدمة
storage-default = الافتراضية
storage-make-default = جعلها الافتراضية
storage-test = اختبار
storage-test-ok = { $name } تعمل: كُتب ملف اختبار وقُرئ ثم حُذف.
storage-default-set = تذهب النسخ الجديدة الآن إلى هذه الوجهة افتراضيًا.
storage-removed = أُزيل الاتصال.
storage-connected = تم ربط { $name }.
storage-connect-title = ربط حساب
storage-folder = المجلد
storage-connect = ربط (سيُطلب منك السماح بالوصول)
storage-s3-title = إضافة حاوية متوافقة مع S3
storage-bucket = الحاوية
storage-region = المنطقة
storage-endpoint = نقطة الوصول (للخدمات المتوافقة مع S3؛ فارغة لـ AWS)
storage-prefix = بادئة المفاتيح (اختيارية)
storage-access-key = معرّف مفتاح الوصول
storage-secret-key = مفتاح الوصول السري
storage-test-first = التحقق من أنها تعمل قبل الحفظ
storage-add = إضافة الحاوية
provider-local = قرص هذا الخادم
provider-s3 = S3
provider-google_drive = Google Drive
provider-onedrive = OneDrive
provider-dropbox = Dropbox
connection-status-active = متصل
connection-status-expired = يحتاج إلى إعادة ربط
connection-status-revoked = ملغى
connection-status-error = خطأ
restore-status-rolling_back = جارٍ التراجع
