"""
Bodies copied verbatim from the Taqnyat API reference (shared/reference/taqnyat-api-reference.txt).

They are not valid JSON (bare words, trailing commas, missing closing braces): the parser must read
them as the reference means them.
"""

STATUS_OK = """
            statusCode: 200,
            status: {
                service: "none",
                description: "All Services are Operational"
"""

METHOD_NOT_ALLOWED = """
            "statusCode": 405,
            "message": "Method Not Allowed"
"""

VOICE_SUCCESS = """
            "status": 1,
            "ResponseStatus": success,
            "messageId": 5452899970,
            "Data": {
                "msgId": "V-8",
                "result": "1",
                "MessageAr": "تم الارسال",
                "MessageEn": "sent successfully",
                "duration": 3,
                "dtmfTimeout": "0",
                "connectionFee": 3,
                "price": "0.216",
                "rejectedNumber": "[]",
                "Error": "null",
"""

VOICE_ERRORS = {
    2: """
                "status": 1,
                "ResponseStatus": fail,
                "Data": null,
                "Error": {
                    "ErrorCode": 2,
                    "MessageAr": "الرصيد = 0",
                    "MessageEn": "Your balance is 0",
""",
    3: """
                "status": 1,
                "ResponseStatus": fail,
                "Data": null,
                "Error": {
                    "ErrorCode": 3,
                    "MessageAr": "الرصيد غير كافي",
                    "MessageEn": "Your balance is not enough",
""",
    14: """
                "status": 1,
                "ResponseStatus": fail,
                "Data": null,
                "Error": {
                    "ErrorCode": 14,
                    "MessageAr": "هوية المتصل غير صحيحة",
                    "MessageEn": "Invalid CallerId",
""",
    15: """
                "status": 1,
                "ResponseStatus": fail,
                "Data": null,
                "Error": {
                    "ErrorCode": 15,
                    "MessageAr": "الأرقام المرسل لها غير صحيحة أو فارغة",
                    "MessageEn": "Mobile(s) number(s) is not specified or incorrect",
""",
    17: """
                "status": 1,
                "ResponseStatus": fail,
                "Data": null,
                "Error": {
                    "ErrorCode": 17,
                    "MessageAr": "يوجد خطأ في الارسال او الملف الصوتي",
                    "MessageEn": "error msg or error audio file",
""",
    101: """
                "status": 1,
                "ResponseStatus": fail,
                "Data": null,
                "Error": {
                    "ErrorCode": 101,
                    "MessageAr": "الارسال باستخدام بوابات الارسال معطل",
                    "MessageEn": "sending by API is disabled",
""",
    102: """
                "status": 1,
                "ResponseStatus": fail,
                "Data": null,
                "Error": {
                    "ErrorCode": 102,
                    "MessageAr": "هذا الاي بي غير مصرح له ",
                    "MessageEn": "MessageEn":" this ip Not authorized to using the API",
""",
    104: """
                    "status": 1,
                    "ResponseStatus": fail,
                    "Data": null,
                    "Error": {
                        "ErrorCode": 104,
                        "MessageAr": "مفتاح الارسال غير صحيح",
                        "MessageEn": "Invalid Bearer Tokens",
""",
}


# From the SMS issue (Taqnyat's public client code): the SMS API's own shapes.
SMS_SUCCESS = (
    '{"statusCode":201,"messageId":5452899970,"cost":0.026,"currency":"SAR","totalCount":1,'
    '"msgLength":1,"accepted":"[966500000000,]","rejected":"[]"}'
)
SMS_UNAUTHORIZED = '{"statusCode":401,"message":"invalid credentials information"}'
SENDERS = '{"statusCode":200,"senders":[{"senderName":"Taqnyat.sa","status":"active"}]}'
SMS_DELETED = '{"statusCode":201,"message":"Deleted successfully"}'
